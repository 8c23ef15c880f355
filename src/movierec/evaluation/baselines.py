"""Baselines scored by the same code as the model: popularity and EASE.

A *scorer* maps a chunk of users to a ``(len(users), n_movies)`` score matrix, given each user's known
ratings as a :class:`~movierec.training.data.RatingLists`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from movierec.training.data import RatingLists


class PopularityScorer:
    """Every user gets the movies with the most training ratings."""

    name = "popularity"

    def __init__(self, train: RatingLists, n_movies: int):
        self.scores = np.bincount(train.items, minlength=n_movies).astype(np.float32)

    def __call__(self, users: np.ndarray, known: RatingLists) -> np.ndarray:
        return np.broadcast_to(self.scores, (len(users), len(self.scores)))


def ease_weights(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE (Steck, 2019): the item-item matrix ``B`` minimising ``|X - XB|^2 + lam |B|^2`` with ``diag(B) = 0``.

    Closed form: ``P = (X^T X + lam I)^-1``, ``B = -P / diag(P)`` column-wise, diagonal set to 0. ``x`` is the
    ``(n_users, n_items)`` binary training matrix; returns ``(n_items, n_items)`` float32.
    """
    g = torch.from_numpy((x.T @ x).toarray().astype(np.float64))
    g += lam * torch.eye(g.shape[0], dtype=torch.float64)
    p = torch.cholesky_inverse(torch.linalg.cholesky(g))  # G is symmetric positive definite
    b = -p / torch.diagonal(p).unsqueeze(0)
    b.fill_diagonal_(0.0)
    return b.float().numpy()


class EASEScorer:
    """EASE over the ``max_items`` most rated movies (its dense ``items x items`` matrix bounds the catalogue
    it can hold); other movies score -inf."""

    name = "ease"

    def __init__(self, train: RatingLists, n_movies: int, lam: float = 500.0, max_items: int = 20_000):
        counts = np.bincount(train.items, minlength=n_movies)
        rated = np.flatnonzero(counts > 0)
        keep = rated[np.argsort(-counts[rated], kind="stable")[:max_items]]
        self.items = np.sort(keep)
        self.n_movies = n_movies
        col = np.full(n_movies, -1)
        col[self.items] = np.arange(len(self.items))
        self.col = col
        self.b = ease_weights(self._matrix(train, np.arange(train.n_users)), lam)

    def _matrix(self, lists: RatingLists, users: np.ndarray) -> sp.csr_matrix:
        rows, cols = [], []
        for r, u in enumerate(users):
            c = self.col[lists.of(int(u))[0]]
            c = c[c >= 0]
            rows.append(np.full(len(c), r))
            cols.append(c)
        rows_a = np.concatenate(rows) if rows else np.zeros(0, int)
        cols_a = np.concatenate(cols) if cols else np.zeros(0, int)
        data = np.ones(len(rows_a), np.float32)
        return sp.csr_matrix((data, (rows_a, cols_a)), shape=(len(users), len(self.items)))

    def __call__(self, users: np.ndarray, known: RatingLists) -> np.ndarray:
        partial = self._matrix(known, users) @ self.b
        out = np.full((len(users), self.n_movies), -np.inf, dtype=np.float32)
        out[:, self.items] = partial
        return out
