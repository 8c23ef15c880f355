"""The item-to-item model the ranker reads: EASE's weights kept sparse, the ``top_k`` strongest per movie.

The dense EASE matrix is ``items x items`` (20,000 movies: 1.6 GB); a serving worker holds the sparse one
(ml-25m size, 100 per movie: about 16 MB) and scores a history with one sparse row sum.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from movierec.evaluation.baselines import EASEScorer


def sparse_ease(ease: EASEScorer, top_k: int) -> sp.csr_matrix:
    """``(n_movies, n_movies)`` CSR: row ``h`` holds the fitted ``ease``'s ``top_k`` largest weights
    ``B[h, j]`` (``h`` rated -> ``j`` scored); movies outside EASE's have none."""
    n_movies = ease.n_movies
    items, b = ease.items, ease.b.numpy()  # b: (len(items), len(items)), rows and columns in ``items`` order
    k = min(top_k, len(items) - 1)
    if k <= 0:
        return sp.csr_matrix((n_movies, n_movies), dtype=np.float32)
    # a block of rows at a time: the whole matrix's sort indices would be twice its size again (int64)
    cols = np.concatenate([np.argpartition(-b[s : s + 1024], k - 1, axis=1)[:, :k] for s in range(0, len(b), 1024)])
    vals = np.take_along_axis(b, cols, axis=1).ravel()
    rows = np.repeat(items, k)
    return sp.csr_matrix((vals.astype(np.float32), (rows, items[cols.ravel()])), shape=(n_movies, n_movies))


def history_scores(matrix: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """``(n_movies,)`` float32: the item-to-item score of every movie for a history of ``items`` (movie_idx)."""
    if len(items) == 0:
        return np.zeros(matrix.shape[1], np.float32)
    return np.asarray(matrix[np.asarray(items, np.int64)].sum(axis=0), dtype=np.float32).ravel()
