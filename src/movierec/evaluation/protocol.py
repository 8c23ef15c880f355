"""The evaluation protocol, one code path for the model and every baseline.

- Each user's *known* ratings (training, plus validation at test time) are the model's input and are
  excluded from the ranking; every other catalogue movie is ranked (full ranking, no sampled negatives).
- Relevant: a held-out movie the user rated at or above ``relevance_threshold``. Users with no relevant
  held-out movie are skipped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from movierec.evaluation.metrics import hits_matrix, ndcg_at_k, ranking_metrics, recall_at_k
from movierec.training.data import RatingLists, history_chunks


class TwoTowerScorer:
    """Scores every movie for users embedded from their known ratings by the user tower: their
    ``max_history`` most recent ones (default: the model's ``rank_history``; 0: all)."""

    name = "two_tower"

    def __init__(self, model, max_history: int | None = None, known_users: bool = True):
        self.model = model.eval()
        self.max_history = model.cfg.rank_history if max_history is None else max_history
        self.known_users = known_users
        self.device = next(model.parameters()).device
        with torch.no_grad():
            self.movies = model.movie_vectors()

    def __call__(self, users: np.ndarray, known: RatingLists) -> torch.Tensor:
        vectors = []
        with torch.no_grad():
            for chunk, items, ratings, mask in history_chunks(known, users, self.max_history):
                uid = torch.as_tensor(chunk if self.known_users else np.full(len(chunk), -1), dtype=torch.long)
                vectors.append(self.model.user_vectors(items.to(self.device), ratings.to(self.device),
                                                       mask.to(self.device), uid.to(self.device)))  # fmt: skip
            u = torch.cat(vectors) if vectors else torch.zeros(0, self.movies.shape[1], device=self.device)
            return self.model.score(u, self.movies).cpu()


def relevant_movies(held_out: pd.DataFrame, threshold: float) -> dict[int, np.ndarray]:
    """``user_idx -> movie indices`` of held-out ratings at or above ``threshold``."""
    liked = held_out[held_out["rating"] >= threshold]
    # a stable sort by user and one split: each user's movies in the rows' order, users ascending (a groupby
    # builds a Series per user, seconds at 160,000 users)
    user, movie = liked["user_idx"].to_numpy(), liked["movie_idx"].to_numpy()
    order = np.argsort(user, kind="stable")
    user, movie = user[order], movie[order]
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]]) if len(user) else np.zeros(0, np.int64)
    return {int(u): m for u, m in zip(user[starts], np.split(movie, starts[1:]))}


def user_sample(relevant: dict[int, np.ndarray], n: int, seed: int) -> dict[int, np.ndarray]:
    """At most ``n`` of the users in ``relevant`` (0: all): a fixed seeded sample, the same on every call, so
    that epochs and runs compare."""
    if not n or len(relevant) <= n:
        return relevant
    users = np.sort(np.random.default_rng(seed).choice(np.array(sorted(relevant)), n, replace=False))
    return {int(u): relevant[int(u)] for u in users}


def top_k(scorer, users: np.ndarray, known: RatingLists, exclude: RatingLists, k: int, batch: int = 512,
          desc: str | None = None) -> np.ndarray:  # fmt: skip
    """``(len(users), k)`` best-first movie indices; movies in ``exclude`` (and those a scorer cannot rank,
    scored -inf) are never included: ``-1`` fills the places left. ``desc``: show a progress bar."""
    out = []
    starts = range(0, len(users), batch)
    if desc is not None:
        starts = tqdm(starts, desc=desc, unit="chunk", leave=False, disable=None)  # terminals only
    for s in starts:
        chunk = users[s : s + batch]
        raw = scorer(chunk, known)
        scores = raw.float().clone() if isinstance(raw, torch.Tensor) else torch.from_numpy(np.array(raw, np.float32))
        rows, cols, _ = exclude.gather(chunk)
        scores[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = float("-inf")
        best = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        out.append(torch.where(torch.isinf(best.values) & (best.values < 0), -1, best.indices).numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def evaluate_scorer(scorer, known: RatingLists, relevant: dict[int, np.ndarray], ks: list[int], n_movies: int,
                    progress: bool = False):  # fmt: skip
    """Metrics of ``scorer`` over the users in ``relevant``; returns ``(metrics, users, top)``."""
    users = np.array(sorted(relevant), dtype=np.int64)
    top = top_k(scorer, users, known, known, max(ks), desc=scorer.name if progress else None)
    return ranking_metrics(top, [relevant[u] for u in users], ks, n_movies), users, top


def segment_metrics(top, users, relevant, train_counts_user, train_counts_movie, k: int = 10) -> dict:
    """Recall and NDCG at ``k`` by user activity (tertiles of training ratings: light, medium, heavy) and by
    movie popularity (head: the most rated fifth of rated movies; tail: the rest), where a movie segment
    keeps only the relevant movies inside it."""
    rel = [relevant[u] for u in users]
    hits = hits_matrix(top, rel)
    out: dict = {}
    activity = train_counts_user[users]
    cuts = np.quantile(activity, [1 / 3, 2 / 3]) if len(users) else [0, 0]
    groups = {"light": activity <= cuts[0], "medium": (activity > cuts[0]) & (activity <= cuts[1]),
              "heavy": activity > cuts[1]}  # fmt: skip
    for name, sel in groups.items():
        if sel.any():
            sub = [r for r, s in zip(rel, sel) if s]
            out[f"users_{name}"] = {f"recall@{k}": float(recall_at_k(hits[sel], sub, k).mean()),
                                    f"ndcg@{k}": float(ndcg_at_k(hits[sel], sub, k).mean()),
                                    "n_users": int(sel.sum())}  # fmt: skip
    rated = np.flatnonzero(train_counts_movie > 0)
    head = set(rated[np.argsort(-train_counts_movie[rated], kind="stable")[: max(1, len(rated) // 5)]].tolist())
    for name, inside in (("movies_head", True), ("movies_tail", False)):
        seg_rel = [np.array([m for m in r if (int(m) in head) == inside], dtype=np.int64) for r in rel]
        keep = np.array([len(r) > 0 for r in seg_rel])
        if keep.any():
            sub = [r for r, kk in zip(seg_rel, keep) if kk]
            h = hits_matrix(top[keep], sub)
            out[name] = {f"recall@{k}": float(recall_at_k(h, sub, k).mean()),
                         f"ndcg@{k}": float(ndcg_at_k(h, sub, k).mean()), "n_users": int(keep.sum())}  # fmt: skip
    return out


def sample_known(known: RatingLists, users: np.ndarray, k: int, rng: np.random.Generator) -> RatingLists:
    """For cold start: each listed user keeps ``k`` of their known ratings chosen at random (fewer if they
    have fewer), in their original order; other users keep none. Only the listed users' ratings are read."""
    users = np.unique(np.asarray(users, dtype=np.int64))
    row, items, ratings = known.gather(users)
    counts = np.bincount(row, minlength=len(users))
    # a random rank within each user's list: sort by (user, chance), then the position inside the user
    order = np.argsort((row.astype(np.int64) << 32) | rng.integers(0, 1 << 32, len(row), dtype=np.int64))
    rank = np.empty(len(row), dtype=np.int64)
    rank[order] = np.arange(len(row)) - np.repeat(np.concatenate([[0], np.cumsum(counts)])[:-1], counts)
    keep = rank < k
    kept = np.zeros(known.n_users, dtype=np.int64)
    kept[users] = np.bincount(row[keep], minlength=len(users))
    return RatingLists(np.concatenate([[0], np.cumsum(kept)]), items[keep], ratings[keep])


def cold_start_ndcg(scorer, known: RatingLists, relevant: dict, ks: list[int], n_movies: int, seed: int) -> dict:
    """NDCG@10 when each evaluated user is embedded from only ``k`` of their known ratings, for each ``k``.
    All their known ratings stay excluded from the ranking, so only the input shrinks."""
    users = np.array(sorted(relevant), dtype=np.int64)
    out = {}
    for k in ks:
        few = sample_known(known, users, k, np.random.default_rng(seed + k))
        top = top_k(scorer, users, few, known, 10, desc=f"{scorer.name}, cold start k={k}")
        rel = [relevant[u] for u in users]
        out[f"ndcg@10_k{k}"] = float(ndcg_at_k(hits_matrix(top, rel), rel, 10).mean())
    return out
