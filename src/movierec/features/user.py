"""User features from the training split: rating habits, taste (top genres), activity over time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec.features.stats import grouped_min_max, grouped_moments

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30.44


def user_genre_counts(user: np.ndarray, movie: np.ndarray, multi_hot: np.ndarray, n_users: int) -> np.ndarray:
    """``(n_users, n_genres)`` count of each user's rated movies per genre."""
    ones = np.ones(len(user), dtype=np.float32)
    rated = sp.csr_matrix((ones, (user, movie)), shape=(n_users, multi_hot.shape[0]))
    return np.asarray((rated @ sp.csr_matrix(multi_hot.astype(np.float32))).todense())


def top_genres(counts: np.ndarray, vocab: list[str], k: int) -> list[list[str]]:
    """Names of each user's ``k`` most rated genres (ties by vocabulary order), zero counts left out."""
    order = np.argsort(-counts, axis=1, kind="stable")[:, :k]
    return [[vocab[j] for j in row if counts[i, j] > 0] for i, row in enumerate(order)]


def user_features(
    users: pd.DataFrame, train: pd.DataFrame, multi_hot: np.ndarray, vocab: list[str], n_top_genres: int
) -> pd.DataFrame:
    """One row per user (``user_idx`` order).

    Columns: ``user_idx, userId, rating_count, rating_mean, rating_std, rating_min, rating_max,
    rating_range, top_genres`` (list), ``first_ts, last_ts`` (s), ``active_days``, ``velocity``
    (ratings per month of activity, a month at least), ``recency_days`` (days from the user's last rating to
    the last rating of the training split).
    """
    n = len(users)
    u = train["user_idx"].to_numpy()
    r = train["rating"].to_numpy()
    ts = train["timestamp"].to_numpy()
    count, mean, std = grouped_moments(u, r, n)
    lo, hi = grouped_min_max(u, r.astype(np.float64), n)
    first, last = grouped_min_max(u, ts.astype(np.float64), n)
    active_days = np.nan_to_num((last - first) / SECONDS_PER_DAY)
    months = np.maximum(active_days / DAYS_PER_MONTH, 1.0)
    end = float(ts.max()) if len(ts) else 0.0
    genre_counts = user_genre_counts(u, train["movie_idx"].to_numpy(), multi_hot, n)
    return pd.DataFrame(
        {
            "user_idx": users["user_idx"].to_numpy(),
            "userId": users["userId"].to_numpy(),
            "rating_count": count.astype(np.int32),
            "rating_mean": mean.astype(np.float32),
            "rating_std": std.astype(np.float32),
            "rating_min": lo.astype(np.float32),
            "rating_max": hi.astype(np.float32),
            "rating_range": (hi - lo).astype(np.float32),
            "top_genres": top_genres(genre_counts, vocab, n_top_genres),
            "first_ts": pd.array(np.where(np.isnan(first), -1, first).astype(np.int64)),
            "last_ts": pd.array(np.where(np.isnan(last), -1, last).astype(np.int64)),
            "active_days": active_days.astype(np.float32),
            "velocity": (count / months).astype(np.float32),
            "recency_days": np.nan_to_num((end - last) / SECONDS_PER_DAY).astype(np.float32),
        }
    )
