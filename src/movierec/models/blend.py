"""A thin profile's ranking: the model's, fused with what is trending while the model is still unsure.

From one rating the user tower can say little, and the movies many people are watching now are a fair guess.
The two rankings are fused by weighted reciprocal rank: ``score(m) = (1 - w) / (C + model_rank) + w / (C +
trend_rank)`` (a movie outside a ranking adds nothing from it), with ``w = weight / n`` for a profile of ``n``
ratings below ``PERSONAL`` and 0 from there on. ``weight`` is chosen on validation by the cold-start
evaluation (``bench/bench_blend.py``). The same rule ranks the served lists (:func:`fuse`) and the evaluated
score matrices (:func:`fuse_scores`).
"""

from __future__ import annotations

import numpy as np
import torch

C = 60  # reciprocal rank fusion's usual constant: ranks 1 and 2 weigh nearly the same, rank 100 far less
PERSONAL = 10  # ratings from which a profile is ranked by the model alone (the journey's "personal" stage)
DEPTH = 200  # how far down the model's ranking the fusion looks


def trend_weight(weight: float, n_ratings: int) -> float:
    """The trending list's share for a profile of ``n_ratings``."""
    return weight / n_ratings if 0 < n_ratings < PERSONAL else 0.0


def fuse(model_order: list[int], trend_order: list[int], w: float, k: int) -> list[int]:
    """The top ``k`` ids of two best-first rankings fused with the trending list's share ``w``; ties keep the
    model's order."""
    if w <= 0:
        return list(model_order[:k])
    score: dict[int, float] = {}
    for rank, m in enumerate(model_order, 1):
        score[m] = (1 - w) / (C + rank)
    for rank, m in enumerate(trend_order, 1):
        score[m] = score.get(m, 0.0) + w / (C + rank)
    return sorted(score, key=lambda m: -score[m])[:k]


def trend_scores(trend_order: np.ndarray, n_movies: int) -> torch.Tensor:
    """``(n_movies,)``: each trending movie's ``1 / (C + rank)``, 0 for the others."""
    out = torch.zeros(n_movies)
    out[torch.as_tensor(np.asarray(trend_order, np.int64))] = 1.0 / (C + torch.arange(1, len(trend_order) + 1))
    return out


def fuse_scores(scores: torch.Tensor, trend: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``(users, movies)`` model scores (``-inf``: excluded) -> fused scores; ``trend`` from :func:`trend_scores`,
    ``w`` ``(users,)`` each user's trending share. An excluded movie stays excluded."""
    depth = min(DEPTH, scores.shape[1])
    best = torch.topk(scores, depth, dim=1)
    model = torch.zeros_like(scores)
    model.scatter_(1, best.indices, (1.0 / (C + torch.arange(1, depth + 1, dtype=scores.dtype))).expand(len(scores), -1))
    fused = (1 - w)[:, None] * model + w[:, None] * trend[None, :]
    return fused.masked_fill(torch.isinf(scores) & (scores < 0), float("-inf"))
