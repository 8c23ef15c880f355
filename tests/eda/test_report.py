"""EDA tables on tiny inputs, and the full report on a small synthetic dataset."""

import numpy as np
import pandas as pd
import pytest

from movierec.data.prepare import PrepareConfig, prepare
from movierec.data.synthetic import SyntheticConfig, generate
from movierec.eda.report import (
    activity_cdf,
    genre_cooccurrence,
    genre_data,
    long_tail_data,
    make_eda,
    monthly_data,
    rating_histogram_data,
    weekly_hourly_counts,
)
from movierec.features.build import FeatureConfig, build_features


def test_rating_histogram_includes_empty_stars():
    h = rating_histogram_data(pd.DataFrame({"rating": [4.0, 4.0, 0.5, 5.0]}))
    assert h["count"].tolist() == [1, 0, 0, 0, 0, 0, 0, 2, 0, 1]
    assert h["share"].sum() == pytest.approx(1.0)


def test_activity_cdf_and_long_tail():
    cdf = activity_cdf(np.array([1, 1, 2, 10]))
    assert cdf.to_dict("list") == {"n_ratings": [1, 2, 10], "share": [0.5, 0.75, 1.0]}
    tail = long_tail_data(np.array([0, 3, 1, 6]))
    assert tail["count"].tolist() == [6, 3, 1] and tail["cum_share"].tolist() == [0.6, 0.9, 1.0]


def test_genre_tables():
    mh = np.array([[1, 0], [1, 1], [0, 0]])
    ratings = pd.DataFrame({"movie_idx": [0, 0, 1], "rating": [4.0, 2.0, 5.0]})
    g = genre_data(ratings, mh, ["Action", "Drama"])
    assert g["n_movies"].tolist() == [2, 1] and g["n_ratings"].tolist() == [3, 1]
    assert g["mean_rating"].tolist() == pytest.approx([11 / 3, 5.0])
    assert genre_cooccurrence(mh).tolist() == [[2, 1], [1, 1]]


def test_time_tables():
    jan, feb = 1_546_300_800, 1_548_979_200  # 2019-01-01, 2019-02-01 (Tuesday, Friday) 00:00 UTC
    m = monthly_data(pd.DataFrame({"timestamp": [jan, jan + 5, feb], "rating": [1.0, 3.0, 5.0]}))
    assert m["month"].tolist() == ["2019-01", "2019-02"] and m["count"].tolist() == [2, 1]
    assert m["mean_rating"].tolist() == [2.0, 5.0]
    grid = weekly_hourly_counts(np.array([jan, feb]))
    assert grid.shape == (7, 24) and grid[1, 0] == 1 and grid[4, 0] == 1 and grid.sum() == 2


def test_make_eda_writes_every_plot(tmp_path):
    generate(SyntheticConfig(n_users=60, n_movies=100, n_ratings=3_000, seed=3), tmp_path / "raw")
    stats = prepare(tmp_path / "raw", tmp_path / "prep", PrepareConfig())
    build_features(tmp_path / "prep", tmp_path / "feat", FeatureConfig())
    summary = make_eda(tmp_path / "prep", tmp_path / "feat", tmp_path / "eda", stats, threshold=5)
    pngs = sorted(p.name for p in (tmp_path / "eda").glob("*.png"))
    assert pngs == sorted(["rating_histogram.png", "user_activity.png", "item_long_tail.png", "genres.png",
                           "genre_cooccurrence.png", "ratings_over_time.png", "weekly_hourly.png",
                           "data_quality.png"])  # fmt: skip
    for p in (tmp_path / "eda").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5_000
    assert summary["n_ratings"] == 3_000 and summary["cold_users"] == 0
    # counted here from the prepared ratings (every split), not read back from the report's own tables
    every = pd.concat([pd.read_parquet(tmp_path / "prep" / f"{s}.parquet") for s in ("train", "val", "test")
                       if (tmp_path / "prep" / f"{s}.parquet").exists()])  # fmt: skip
    per_movie = every.groupby("movieId").size()
    assert summary["cold_movies"] == int((per_movie < 5).sum()) > 0
    assert summary["cold_users"] == int((every.groupby("userId").size() < 5).sum())
    assert pd.read_csv(tmp_path / "eda" / "rating_histogram.csv")["count"].sum() == 3_000


def test_rating_outliers_find_flat_raters_and_bursts():
    from movierec.eda.report import rating_outliers

    day = 86_400
    r = pd.DataFrame({"user_idx": [0] * 25 + [1] * 25,
                      "rating": [3.0] * 25 + [1.0, 5.0] * 12 + [4.0],
                      "timestamp": [i * day for i in range(25)] + [5 * day + i for i in range(25)]})  # fmt: skip
    out = rating_outliers(r)
    assert out["same_rating_users"]["user_idx"].tolist() == [0]  # 25 ratings, all 3 stars
    top = out["bursts"].iloc[0]
    assert (top["user_idx"], top["ratings"], top["date"]) == (1, 25, "1970-01-06")
