"""Item-to-item quality: does "similar to a movie a user liked" name other movies that user likes?

For a user, every liked movie ``a`` they rated before the hold-out and every liked held-out movie ``b`` make a
pair; a pair *hits* when ``b`` is among the ``k`` movies most similar to ``a``. ``similar_hit@k`` is the share of
a user's pairs that hit, averaged over users, so that heavy raters do not outweigh the rest.

A hit rate alone is won by popularity: the same list of the most liked movies for every movie hits often, whatever
the movie. So the figure that choices rest on is ``similar_excess@k``: the hit rate minus the hit rate with the
users' held-out movies shuffled among users (``similar_chance@k``, what a list earns whatever its movie is about).
The popularity list scores about 0 on it; a list earns it only by naming what fans of that movie go on to like.

Every method is judged from the same neighbour lists: the served blend (the model's taste cosine plus the
item-to-item weights of the rank stage), the taste cosine alone, a cosine ItemKNN baseline over the training
ratings and popularity.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp
import torch

from movierec.data.titles import natural_title
from movierec.training.data import RatingLists


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), so that a dot product of two is their cosine."""
    v = np.asarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def most_similar(unit: np.ndarray, i: int, k: int, itemitem: sp.csr_matrix | None = None,
                 weight: float = 0.0) -> list[tuple[int, float]]:  # fmt: skip
    """The ``k`` rows of ``unit`` (unit vectors, ``(n, dim)``) closest in cosine to row ``i``, without ``i``:
    ``[(row, score), ...]`` best first, ties in row order; with ``itemitem`` (:func:`row_scaled`), its row ``i``
    times ``weight`` is added to the cosines (:func:`blend_similarity`). An exact scan: one product per movie."""
    scores = unit @ unit[i]
    if itemitem is not None and weight:
        row = itemitem[i]
        scores[row.indices] += weight * row.data
    scores[i] = -np.inf
    k = min(k, len(scores) - 1)
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(j), float(scores[j])) for j in top]


def neighbour_lists(similarity, n_movies: int, k: int, batch: int = 1024, anchors: np.ndarray | None = None) -> np.ndarray:
    """``(n_movies, k)`` movie indices, most similar first, never the movie itself; ``similarity(rows)`` gives
    the ``(len(rows), n_movies)`` scores of a chunk of movies against every movie. Only ``anchors`` get lists
    (every movie when None), the others ``-1``."""
    out = np.full((n_movies, k), -1, dtype=np.int64)
    anchors = np.arange(n_movies) if anchors is None else np.asarray(anchors, np.int64)
    for s in range(0, len(anchors), batch):
        rows = anchors[s : s + batch]
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
    users = np.array([u for u, after in liked_after.items() if len(after)], np.int64)
    if len(users):
        users = users[liked_before.indptr[users + 1] > liked_before.indptr[users]]
    if len(users) == 0:
        return 0.0
    # every user's pairs at once, a block of users at a time: a neighbour hits when it is set in the user's row of
    # a boolean (users x movies) table of their later movies (a lookup per neighbour, no search)
    row, before, _ = liked_before.gather(users)
    after = [np.asarray(liked_after[int(u)], np.int64) for u in users]
    n_after = np.array([len(a) for a in after])
    width = max(len(neighbours), int(np.concatenate(after).max()) + 1)
    block = max(1, 2**26 // width)  # a table of at most 64 MB
    starts = np.searchsorted(row, np.arange(0, len(users) + block, block))  # rows come grouped by user, in order
    hits = np.zeros(len(users))
    for b, s in enumerate(range(0, len(users), block)):
        e = min(s + block, len(users))
        table = np.zeros((e - s, width), bool)
        table[np.repeat(np.arange(e - s), n_after[s:e]), np.concatenate(after[s:e])] = True
        r = row[starts[b] : starts[b + 1]] - s
        named = neighbours[before[starts[b] : starts[b + 1]], :k]
        hit = table[r[:, None], named] & (named >= 0)  # -1 (no list) would read the last column: masked
        hits[s:e] = np.bincount(r, weights=hit.sum(axis=1), minlength=e - s)
    n_before = np.bincount(row, minlength=len(users))
    return float(np.mean(hits / (n_before * n_after)))


def chance_hit_rate(neighbours: np.ndarray, liked_before: RatingLists, liked_after: dict[int, np.ndarray],
                    k: int = 10, shuffles: int = 5, seed: int = 0) -> float:  # fmt: skip
    """:func:`similar_hit_rate` with each user's held-out movies given to another user (a seeded shuffle, the
    mean of ``shuffles``): the hits a list gets whatever its movie."""
    users = list(liked_after)
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(shuffles):
        other = rng.permutation(len(users))
        rates.append(similar_hit_rate(neighbours, liked_before, {u: liked_after[users[o]] for u, o in zip(users, other)}, k))
    return float(np.mean(rates))


def similar_figures(neighbours: np.ndarray, liked_before: RatingLists, liked_after: dict[int, np.ndarray],
                    k: int = 10) -> dict:  # fmt: skip
    """``similar_excess@k`` (what choices rest on), the hit rate and the chance it is measured against, and the
    share of the catalogue in some list."""
    hit = similar_hit_rate(neighbours, liked_before, liked_after, k)
    chance = chance_hit_rate(neighbours, liked_before, liked_after, k)
    named = np.unique(neighbours[:, :k])
    return {f"similar_excess@{k}": hit - chance, f"similar_hit@{k}": hit, f"similar_chance@{k}": chance,
            "distinct_neighbours": int((named >= 0).sum()) / len(neighbours)}  # fmt: skip


def row_scaled(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row over its largest absolute weight: a movie's strongest item-to-item neighbour weighs 1, on the
    cosine's scale."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    top = np.zeros(m.shape[0], np.float32)
    nonempty = np.diff(m.indptr) > 0
    top[nonempty] = np.maximum.reduceat(np.abs(m.data), m.indptr[:-1][nonempty]) if m.nnz else 0.0
    return (sp.diags(1.0 / np.maximum(top, 1e-12)).astype(np.float32) @ m).tocsr()


def blend_similarity(taste: np.ndarray, itemitem: sp.csr_matrix, weight: float):
    """The served "similar movies" score: the cosine of taste vectors plus ``weight`` x the item-to-item weights
    (:func:`row_scaled`) of the movie."""
    unit, scaled = unit_rows(taste), row_scaled(itemitem)
    if weight == 0:
        return lambda rows: unit[rows] @ unit.T
    return lambda rows: unit[rows] @ unit.T + weight * scaled[rows].toarray()


def blend_neighbours(taste: np.ndarray, itemitem: sp.csr_matrix, weights: list[float], k: int,
                     rows: np.ndarray | None = None, batch: int = 1024) -> dict[float, np.ndarray]:  # fmt: skip
    """:func:`neighbour_lists` of :func:`blend_similarity` for each weight at once (each chunk's cosines and
    item-to-item rows are made once); only ``rows`` get lists (all when None), the others ``-1``."""
    unit, scaled = unit_rows(taste), row_scaled(itemitem)
    n = len(unit)
    rows = np.arange(n) if rows is None else np.asarray(rows, np.int64)
    out = {w: np.full((n, k), -1, np.int64) for w in weights}
    for s in range(0, len(rows), batch):
        chunk = rows[s : s + batch]
        cos = torch.from_numpy(unit[chunk] @ unit.T)
        cos[torch.arange(len(chunk)), torch.from_numpy(chunk)] = float("-inf")
        # the item-to-item rows are sparse: their weights are added where they are, not as a dense chunk
        ii = scaled[chunk]
        at = torch.from_numpy(np.repeat(np.arange(len(chunk), dtype=np.int64) * n, np.diff(ii.indptr)) + ii.indices)
        weight = torch.from_numpy(ii.data)
        for w in weights:
            scores = cos.clone()
            if w:
                scores.view(-1).index_add_(0, at, weight, alpha=w)
            out[w][chunk] = torch.topk(scores, min(k, n - 1), dim=1).indices.numpy()
    return out


def choose_similar_weight(taste: np.ndarray, itemitem: sp.csr_matrix, known: RatingLists,
                          relevant: dict[int, np.ndarray], threshold: float, weights: list[float], n_rows: int,
                          k: int = 10) -> tuple[float, dict]:  # fmt: skip
    """The weight of :func:`blend_similarity` with the best ``similar_excess@k`` for pairs from the ``known``
    ratings to ``relevant`` (validation), over the lists of the ``n_rows`` most rated movies (the others are
    rarely anchors of a pair); and each weight's figures."""
    rows = most_rated(known, len(taste), n_rows)
    before = liked(known, threshold)
    table = {w: similar_figures(nb, before, relevant, k) for w, nb in blend_neighbours(taste, itemitem, weights, k, rows).items()}
    best = max(weights, key=lambda w: table[w][f"similar_excess@{k}"])
    return best, {str(w): v for w, v in table.items()}


# a series as titles name it: the part before a colon, or the title without a trailing number ("Toy Story 2",
# "Back to the Future Part II"); a title that is another's plus a word or two joins it ("The Matrix Reloaded")
_SEQUEL = re.compile(r",?\s+(?:part\s+)?(?:\d+|[ivx]+)$")
_BRACKETS = re.compile(r"\s*\([^)]*\)")


def series_groups(titles: list[str]) -> list[list[int]]:
    """Movies of one series (positions in ``titles``), for groups of two or more."""
    names = [_BRACKETS.sub("", natural_title(t)).strip().casefold() for t in titles]
    stems = [_SEQUEL.sub("", n.split(":")[0].strip()) for n in names]
    by_stem: dict[str, list[int]] = {}
    for i, s in enumerate(stems):
        if s:
            by_stem.setdefault(s, []).append(i)
    for i, n in enumerate(names):  # "the matrix reloaded" joins "the matrix"
        words = n.split()
        for cut in (1, 2):
            if len(words) > cut + 1 and " ".join(words[:-cut]) in by_stem and stems[i] != " ".join(words[:-cut]):
                by_stem[" ".join(words[:-cut])].append(i)
                break
    return [sorted(set(g)) for g in by_stem.values() if len(set(g)) > 1]


def series_share(neighbours: np.ndarray, groups: list[list[int]], k: int = 10) -> dict:
    """Of the movies in a series: the share whose first ``k`` neighbours hold another film of it, and the share
    whose first ``k`` hold all the others (series of up to ``k + 1`` films). Movies without a list (``-1``)
    are left out."""
    some, every, n, n_small = 0, 0, 0, 0
    for g in groups:
        for i in g:
            if neighbours[i, 0] < 0:
                continue
            others = set(g) - {i}
            found = others & set(neighbours[i, :k].tolist())
            some += bool(found)
            n += 1
            if len(others) <= k:
                every += found == others
                n_small += 1
    return {f"series_any@{k}": some / max(n, 1), f"series_all@{k}": every / max(n_small, 1), "series_movies": n}


def most_rated(known: RatingLists, n_movies: int, n: int) -> np.ndarray:
    """The ``n`` most rated movies' indices, in index order (every movie when ``n`` is 0 or reaches them)."""
    if n <= 0 or n >= n_movies:
        return np.arange(n_movies)
    counts = np.bincount(known.items, minlength=n_movies)
    return np.sort(np.argsort(-counts, kind="stable")[:n])


def liked(lists: RatingLists, threshold: float, movies: np.ndarray | None = None) -> RatingLists:
    """The ratings at or above ``threshold`` of every user, as lists (of ``movies`` only, when given)."""
    keep = lists.ratings >= threshold
    if movies is not None:
        keep &= np.isin(lists.items, movies)
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
                   k: int = 10, served=None, titles: list[str] | None = None, anchors: int = 0) -> dict:  # fmt: skip
    """:func:`similar_figures` for the taste cosine, cosine ItemKNN, popularity and ``served`` (a similarity,
    see :func:`blend_similarity`), all from the ``known`` ratings; pairs join a movie liked in ``known`` (at or
    above ``threshold``) to one in ``relevant``. With ``titles``, the series shares (:func:`series_share`).
    With ``anchors``, only the lists of that many most rated movies are made and judged: the pairs that start
    at one of them, the series films among them (a full catalogue's lists cost minutes per ranking)."""
    n_movies = len(taste)
    rows = most_rated(known, n_movies, anchors)
    methods = {"two_tower": vector_similarity(taste, cosine=True), "itemknn": itemknn_similarity(known, n_movies),
               "popularity": popularity_similarity(known, n_movies)}  # fmt: skip
    if served is not None:
        methods = {"served": served, **methods}
    before = liked(known, threshold, None if len(rows) == n_movies else rows)
    groups = series_groups(titles) if titles is not None else None
    out = {}
    for name, similarity in methods.items():
        nb = neighbour_lists(similarity, n_movies, k, anchors=rows)
        out[name] = similar_figures(nb, before, relevant, k)
        if groups:
            out[name].update(series_share(nb, groups, k))
    return out
