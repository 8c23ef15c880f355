"""Baselines scored by the same code as the model: popularity and EASE.

A *scorer* maps a chunk of users to a ``(len(users), n_movies)`` score matrix, given each user's known
ratings as a :class:`~movierec.training.data.RatingLists`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from movierec.errors import MovieRecError
from movierec.training.data import RatingLists


class PopularityScorer:
    """Every user gets the movies with the most training ratings."""

    name = "popularity"

    def __init__(self, train: RatingLists, n_movies: int):
        self.scores = np.bincount(train.items, minlength=n_movies).astype(np.float32)

    def __call__(self, users: np.ndarray, known: RatingLists) -> np.ndarray:
        return np.broadcast_to(self.scores, (len(users), len(self.scores)))


def gram(x: sp.csr_matrix, threads: int | None = None, block: int = 2048) -> np.ndarray:
    """``x^T x`` as a dense float32 array, a block of its columns at a time on ``threads`` threads (torch's count
    by default): scipy's sparse product runs on one core but lets go of the GIL, and a block's sparse product is
    a fraction of the whole one's memory. Each entry comes from one product, as exact as the whole one."""
    from concurrent.futures import ThreadPoolExecutor

    n = x.shape[1]
    out = np.zeros((n, n), np.float32)
    xt, cols = x.T.tocsr(), x.tocsc()

    def fill(start: int) -> None:
        out[:, start : start + block] = (xt @ cols[:, start : start + block]).toarray()

    with ThreadPoolExecutor(max(1, threads or torch.get_num_threads())) as pool:
        list(pool.map(fill, range(0, n, block)))
    return out


def ease_weights(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE (Steck, 2019): the item-item matrix ``B`` minimising ``|X - XB|^2 + lam |B|^2`` with ``diag(B) = 0``.

    Closed form: ``P = (X^T X + lam I)^-1``, ``B = -P / diag(P)`` column-wise, diagonal set to 0. ``x`` is the
    ``(n_users, n_items)`` binary training matrix; returns ``(n_items, n_items)`` float32. Computed in
    float32 and in place, so that 20,000 items need about 3 GB rather than twice that in float64.
    """
    g = torch.from_numpy(gram(x))
    g.diagonal().add_(lam)
    torch.linalg.cholesky(g, out=g)  # G is symmetric positive definite
    # LAPACK hands the inverse back column-major (and exactly symmetric, one triangle copied onto the other):
    # its transpose is the same matrix stored row-major, which the user x item products read row by row
    # (four times faster on a 20,000-item matrix than through the column-major strides)
    p = torch.cholesky_inverse(g).T
    del g
    p.div_(-torch.diagonal(p).clone().unsqueeze(0))
    p.fill_diagonal_(0.0)
    return p.numpy()


EASE_WEIGHTS, EASE_ITEMS, EASE_META = "weights.npy", "items.npy", "ease.json"


class EASEScorer:
    """EASE over the ``max_items`` most rated movies (its dense ``items x items`` matrix bounds the catalogue
    it can hold); other movies score -inf."""

    name = "ease"

    def __init__(self, train: RatingLists, n_movies: int, lam: float = 500.0, max_items: int = 20_000):
        counts = np.bincount(train.items, minlength=n_movies)
        rated = np.flatnonzero(counts > 0)
        keep = rated[np.argsort(-counts[rated], kind="stable")[:max_items]]
        self._place(np.sort(keep), n_movies)
        self.lam, self.max_items = float(lam), int(max_items)
        self.b = torch.from_numpy(ease_weights(self._matrix(train, np.arange(train.n_users)), lam))

    def _place(self, items: np.ndarray, n_movies: int) -> None:
        self.items = items
        self.n_movies = n_movies
        col = np.full(n_movies, -1)
        col[self.items] = np.arange(len(self.items))
        self.col = col

    # ----- files: the `ease` stage fits once, `rank` and `evaluate` read the same weights -------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / EASE_WEIGHTS, self.b.numpy())
        np.save(folder / EASE_ITEMS, self.items)
        meta = {"lambda": self.lam, "max_items": self.max_items, "n_movies": self.n_movies}
        (folder / EASE_META).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path, n_movies: int, lam: float | None = None,
             max_items: int | None = None) -> EASEScorer:  # fmt: skip
        """The weights the ``ease`` stage saved, checked against the catalogue (``n_movies``) and, where given,
        the settings they must have been fitted with; anything else is a :class:`MovieRecError` that says what
        to do."""
        folder = Path(folder)
        again = "run `dvc repro ease`"
        missing = [n for n in (EASE_WEIGHTS, EASE_ITEMS, EASE_META) if not (folder / n).is_file()]
        if missing:
            raise MovieRecError(f"no EASE weights in {folder} (missing {', '.join(missing)}): {again}")
        try:
            meta = json.loads((folder / EASE_META).read_text())
            items = np.load(folder / EASE_ITEMS)
            b = np.load(folder / EASE_WEIGHTS)
        except Exception as e:  # noqa: BLE001 - any damage to the files reads the same to the user
            raise MovieRecError(f"the EASE weights in {folder} cannot be read ({e}): {again}") from None
        wanted = {"n_movies": n_movies, "lambda": lam, "max_items": max_items}
        stale = [f"{k} {meta.get(k)} (expected {v})" for k, v in wanted.items() if v is not None and meta.get(k) != v]
        if stale or b.shape != (len(items), len(items)) or (len(items) and items.max() >= n_movies):
            why = ", ".join(stale) or f"weights of shape {b.shape} for {len(items)} movies"
            raise MovieRecError(f"the EASE weights in {folder} do not match this data or params.yaml ({why}): {again}")
        scorer = cls.__new__(cls)
        scorer._place(items, n_movies)
        scorer.lam, scorer.max_items = float(meta["lambda"]), int(meta["max_items"])
        scorer.b = torch.from_numpy(b)
        return scorer

    def _matrix(self, lists: RatingLists, users: np.ndarray) -> sp.csr_matrix:
        """``(len(users), n_items)`` binary matrix of the users' ratings of EASE's movies."""
        row, items, _ = lists.gather(users)
        col = self.col[items]
        row, col = row[col >= 0], col[col >= 0]
        return sp.csr_matrix((np.ones(len(row), np.float32), (row, col)), shape=(len(users), len(self.items)))

    def __call__(self, users: np.ndarray, known: RatingLists) -> torch.Tensor:
        x = self._matrix(known, users)
        # torch's sparse x dense product uses every thread; scipy's uses one
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            xt = torch.sparse_csr_tensor(torch.from_numpy(x.indptr.astype(np.int64)),
                                         torch.from_numpy(x.indices.astype(np.int64)), torch.from_numpy(x.data),
                                         x.shape, check_invariants=False)  # fmt: skip
        out = torch.full((len(users), self.n_movies), float("-inf"))
        out[:, torch.from_numpy(self.items)] = xt @ self.b
        return out
