"""Per-rating features of the training split: the rating relative to the user's habit, and when it was given."""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400


def rating_z(user: np.ndarray, rating: np.ndarray, user_mean: np.ndarray, user_std: np.ndarray) -> np.ndarray:
    """``(rating - mean_u) / std_u`` per rating; 0 where the user's ratings do not vary."""
    mean = user_mean[user]
    std = user_std[user]
    return np.divide(rating - mean, std, out=np.zeros(len(rating), dtype=np.float64), where=std > 0)


def day_of_week(ts: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday, in UTC (1970-01-01 was a Thursday)."""
    return ((ts // SECONDS_PER_DAY + 3) % 7).astype(np.int8)


def hour_of_day(ts: np.ndarray) -> np.ndarray:
    """0..23, in UTC."""
    return ((ts % SECONDS_PER_DAY) // 3600).astype(np.int8)


def interaction_features(train: pd.DataFrame, user_feats: pd.DataFrame) -> pd.DataFrame:
    """``user_idx, movie_idx, rating, rating_z, day_of_week, hour, timestamp`` for every training rating."""
    u = train["user_idx"].to_numpy()
    ts = train["timestamp"].to_numpy()
    r = train["rating"].to_numpy().astype(np.float64)
    z = rating_z(u, r, user_feats["rating_mean"].to_numpy(np.float64), user_feats["rating_std"].to_numpy(np.float64))
    return pd.DataFrame(
        {
            "user_idx": u,
            "movie_idx": train["movie_idx"].to_numpy(),
            "rating": train["rating"].to_numpy(),
            "rating_z": z.astype(np.float32),
            "day_of_week": day_of_week(ts),
            "hour": hour_of_day(ts),
            "timestamp": ts,
        }
    )
