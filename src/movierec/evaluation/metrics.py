"""Top-K ranking metrics with binary relevance, computed per user.

Inputs everywhere: ``top``, an ``(n_users, K)`` int array of ranked movie indices (best first; ``-1`` where
fewer than K movies could be ranked), and
``relevant``, a list of per-user int arrays of relevant movie indices (held-out movies rated at or above the
relevance threshold). Users with no relevant movie must be left out by the caller: every metric below is
undefined for them.
"""

from __future__ import annotations

import numpy as np


def hits_matrix(top: np.ndarray, relevant: list[np.ndarray]) -> np.ndarray:
    """``(n_users, K)`` bool: ``hits[u, i]`` is True when the movie at rank ``i`` is relevant to user ``u``."""
    hits = np.zeros(top.shape, dtype=bool)
    for u, rel in enumerate(relevant):
        hits[u] = np.isin(top[u], rel)
    return hits


def _n_relevant(relevant: list[np.ndarray]) -> np.ndarray:
    return np.array([len(r) for r in relevant], dtype=np.float64)


def recall_at_k(hits: np.ndarray, relevant: list[np.ndarray], k: int) -> np.ndarray:
    """Share of a user's relevant movies found in the top ``k``: ``|top_k ∩ rel| / |rel|``."""
    return hits[:, :k].sum(1) / _n_relevant(relevant)


def precision_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Share of the top ``k`` that is relevant: ``|top_k ∩ rel| / k``."""
    return hits[:, :k].sum(1) / k


def hit_rate_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """1 when at least one relevant movie is in the top ``k``, else 0."""
    return hits[:, :k].any(1).astype(np.float64)


def ndcg_at_k(hits: np.ndarray, relevant: list[np.ndarray], k: int) -> np.ndarray:
    """DCG of the top ``k`` (gain 1 per relevant movie, discount ``1 / log2(rank + 1)``) over the ideal DCG,
    which places ``min(|rel|, k)`` relevant movies first."""
    h = hits[:, :k]
    discount = 1.0 / np.log2(np.arange(2, h.shape[1] + 2))
    dcg = (h * discount).sum(1)
    ideal_n = np.minimum(_n_relevant(relevant), h.shape[1]).astype(int)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[ideal_n]
    return dcg / ideal


def map_at_k(hits: np.ndarray, relevant: list[np.ndarray], k: int) -> np.ndarray:
    """Average precision at ``k``: the mean of precision@i over the ranks ``i <= k`` that hit, divided by
    ``min(|rel|, k)`` (so a perfect top ``k`` scores 1)."""
    h = hits[:, :k].astype(np.float64)
    precision_at_i = np.cumsum(h, 1) / np.arange(1, h.shape[1] + 1)
    return (precision_at_i * h).sum(1) / np.minimum(_n_relevant(relevant), k)


def catalog_coverage(top: np.ndarray, k: int, n_movies: int) -> float:
    """Share of the ``n_movies`` catalogue that appears in at least one user's top ``k`` (``-1``: no movie)."""
    shown = top[:, :k]
    return len(np.unique(shown[shown >= 0])) / n_movies


def ranking_metrics(top: np.ndarray, relevant: list[np.ndarray], ks: list[int], n_movies: int) -> dict:
    """Mean Recall, Precision, NDCG, HitRate and MAP at each ``k``, plus catalogue coverage, as a flat dict
    (``"ndcg@10": 0.31, ...``)."""
    hits = hits_matrix(top, relevant)
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = float(recall_at_k(hits, relevant, k).mean())
        out[f"precision@{k}"] = float(precision_at_k(hits, k).mean())
        out[f"ndcg@{k}"] = float(ndcg_at_k(hits, relevant, k).mean())
        out[f"hit_rate@{k}"] = float(hit_rate_at_k(hits, k).mean())
        out[f"map@{k}"] = float(map_at_k(hits, relevant, k).mean())
        out[f"coverage@{k}"] = catalog_coverage(top, k, n_movies)
    out["n_users"] = len(relevant)
    return out
