"""Cold start with the trending list fused in (``models/blend.py``), evaluated as it is served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from movierec.models.blend import fuse_scores, trend_scores, trend_weight
from movierec.serving.profiles import trending_movies
from movierec.training.data import RatingLists


class TrendBlendScorer:
    """A cold-start scorer with the trending list fused in for thin profiles (``models/blend.py``): each user's
    trending share follows the number of ratings they gave (``known``), and ``exclude`` (every rating the user
    has) is left out before ranking, as the service leaves out a visitor's rated movies."""

    name = "two_tower_trending"

    def __init__(self, base, trend_order: np.ndarray, n_movies: int, weight: float, exclude: RatingLists):
        self.base, self.weight, self.exclude = base, weight, exclude
        self.trend = trend_scores(trend_order, n_movies)

    def __call__(self, users: np.ndarray, known: RatingLists) -> torch.Tensor:
        scores = self.base(users, known).float().clone()
        rows, cols, _ = self.exclude.gather(users)
        scores[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = float("-inf")
        n = known.counts()[users]
        w = torch.tensor([trend_weight(self.weight, int(c)) for c in n], dtype=scores.dtype)
        return fuse_scores(scores, self.trend, w)


def trend_order(prepared: Path, movie_features: pd.DataFrame, weeks: int) -> np.ndarray:
    """The trending movies (movie_idx, best first) as the ``index`` stage ranks them, from the training ratings
    alone (what was known when the held-out ratings were made)."""
    train = pd.read_parquet(prepared / "train.parquet", columns=["movie_idx", "timestamp"])
    catalog = movie_features[["movie_idx", "movieId", "rating_count"]]
    ids = trending_movies(train["movie_idx"].to_numpy(), train["timestamp"].to_numpy(), catalog, weeks)["movie_ids"]
    idx = dict(zip(catalog["movieId"].astype(int), catalog["movie_idx"].astype(int)))
    return np.array([idx[m] for m in ids], np.int64)
