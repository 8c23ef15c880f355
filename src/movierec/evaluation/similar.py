"""Item-to-item quality: does "similar to a movie a user liked" name other movies that user likes?

For a user, every liked movie ``a`` they rated before the hold-out and every liked held-out movie ``b`` make a
pair; a pair *hits* when ``b`` is among the ``k`` movies most similar to ``a``. ``similar_hit@k`` is the share of
a user's pairs that hit, averaged over users, so that heavy raters do not outweigh the rest. Every method is
judged from the same neighbour lists: the two-tower model's vectors and a cosine ItemKNN baseline over the
training ratings (the co-occurrence a recommender should at least match).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from movierec.training.data import RatingLists


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), so that a dot product of two is their cosine."""
    v = np.asarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def most_similar(unit: np.ndarray, i: int, k: int) -> list[tuple[int, float]]:
    """The ``k`` rows of ``unit`` (unit vectors, ``(n, dim)``) closest in cosine to row ``i``, without ``i``:
    ``[(row, cosine), ...]`` best first, ties in row order. An exact scan: one product per movie."""
    scores = unit @ unit[i]
    scores[i] = -np.inf
    k = min(k, len(scores) - 1)
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(j), float(scores[j])) for j in top]


def neighbour_lists(similarity, n_movies: int, k: int, batch: int = 1024) -> np.ndarray:
    """``(n_movies, k)`` movie indices, most similar first, never the movie itself; ``similarity(rows)`` gives
    the ``(len(rows), n_movies)`` scores of a chunk of movies against every movie."""
    out = np.empty((n_movies, k), dtype=np.int64)
    for s in range(0, n_movies, batch):
        rows = np.arange(s, min(s + batch, n_movies))
        scores = torch.from_numpy(np.array(similarity(rows), dtype=np.float32))  # a copy: -inf goes in below
        scores[torch.arange(len(rows)), torch.from_numpy(rows)] = float("-inf")
        out[rows] = torch.topk(scores, min(k, n_movies - 1), dim=1).indices.numpy()
    return out


def cooccurrence_matrix(train: RatingLists, n_movies: int) -> sp.csr_matrix:
    """``(n_movies, n_users)`` binary matrix with rows scaled to unit length: its row products are the cosine
    ItemKNN similarity of two movies' audiences."""
    x = train.matrix(n_movies).T.tocsr()
    x.sum_duplicates()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    return sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ x


def itemknn_similarity(train: RatingLists, n_movies: int):
    """Cosine ItemKNN: for a chunk of movies, the cosine of their audience vectors with every movie's."""
    x = cooccurrence_matrix(train, n_movies).tocsr()
    xt = x.T.tocsc()

    def similarity(rows: np.ndarray) -> np.ndarray:
        return (x[rows] @ xt).toarray()

    return similarity


def vector_similarity(vectors: np.ndarray, cosine: bool):
    """Dot product (``cosine=False``) or cosine of movie vectors ``(n_movies, dim)``."""
    v = unit_rows(vectors) if cosine else np.asarray(vectors, dtype=np.float32)
    return lambda rows: v[rows] @ v.T


def similar_hit_rate(neighbours: np.ndarray, liked_before: RatingLists, liked_after: dict[int, np.ndarray],
                     k: int = 10) -> float:  # fmt: skip
    """Mean over users of the share of (liked before, liked after) pairs whose later movie is among the earlier
    movie's first ``k`` neighbours. Users with no pair are skipped."""
    rates = []
    for user, after in liked_after.items():
        before = liked_before.of(user)[0]
        if len(before) == 0 or len(after) == 0:
            continue
        hits = np.isin(neighbours[before, :k], after).sum()
        rates.append(hits / (len(before) * len(after)))
    return float(np.mean(rates)) if rates else 0.0


def liked(lists: RatingLists, threshold: float) -> RatingLists:
    """The ratings at or above ``threshold`` of every user, as lists."""
    keep = lists.ratings >= threshold
    user = np.repeat(np.arange(lists.n_users), lists.counts())
    indptr = np.zeros(lists.n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(user[keep], minlength=lists.n_users), out=indptr[1:])
    return RatingLists(indptr, lists.items[keep], lists.ratings[keep])


def popularity_similarity(train: RatingLists, n_movies: int):
    """The same list for every movie, the most rated first: the reference that shows how much of a hit rate
    popularity alone buys."""
    counts = np.bincount(train.items, minlength=n_movies).astype(np.float32)
    return lambda rows: np.broadcast_to(counts, (len(rows), n_movies))


def similar_report(taste: np.ndarray, known: RatingLists, relevant: dict[int, np.ndarray], threshold: float,
                   k: int = 10) -> dict:  # fmt: skip
    """``similar_hit@k`` and the share of the catalogue that appears in some movie's list, for the served design
    (cosine of the model's taste vectors ``(n_movies, dim)``), cosine ItemKNN and popularity, all from the
    ``known`` ratings; pairs join a movie liked in ``known`` (at or above ``threshold``) to one in ``relevant``."""
    n_movies = len(taste)
    methods = {"two_tower": vector_similarity(taste, cosine=True), "itemknn": itemknn_similarity(known, n_movies),
               "popularity": popularity_similarity(known, n_movies)}  # fmt: skip
    before = liked(known, threshold)
    out = {}
    for name, similarity in methods.items():
        nb = neighbour_lists(similarity, n_movies, k)
        out[name] = {f"similar_hit@{k}": similar_hit_rate(nb, before, relevant, k),
                     "distinct_neighbours": len(np.unique(nb)) / n_movies}  # fmt: skip
    return out
