"""Feature values on hand-made inputs whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from movierec.features.interaction import day_of_week, hour_of_day, interaction_features, rating_z
from movierec.features.movie import (
    clean_title,
    genome_matrix,
    genre_matrix,
    genre_vocabulary,
    movie_features,
    parse_year,
    rating_trend,
    tag_features,
)
from movierec.features.stats import grouped_min_max, grouped_moments
from movierec.features.user import top_genres, user_features


@pytest.mark.parametrize(
    "title, year",
    [
        ("Toy Story (1995)", 1995),
        ("American President, The (1995)", 1995),
        ("Babylon 5 (1994-1998)", 1994),
        ("Stranger Things (2016- )", 2016),
        ("Heat (1995) ", 1995),
        ("Babylon 5", None),
        ("1984 (1984)", 1984),
        ("2001: A Space Odyssey", None),
        ("Movie (12345)", None),
        ("Old One (1066)", None),
        (None, None),
    ],
)
def test_parse_year(title, year):
    assert parse_year(title) == year


def test_clean_title():
    assert clean_title("Babylon 5 (1994-1998)") == "Babylon 5"
    assert clean_title("Heat (1995)") == "Heat"
    assert clean_title("Babylon 5") == "Babylon 5"


def test_grouped_moments_and_min_max():
    key = np.array([0, 0, 0, 2])
    val = np.array([1.0, 2.0, 3.0, 5.0])
    count, mean, std = grouped_moments(key, val, 3)
    assert count.tolist() == [3, 0, 1]
    assert mean.tolist() == [2.0, 0.0, 5.0]
    assert std == pytest.approx([np.sqrt(2 / 3), 0.0, 0.0])
    lo, hi = grouped_min_max(key, val, 3)
    assert lo[0] == 1 and hi[0] == 3 and np.isnan(lo[1]) and lo[2] == hi[2] == 5


def test_rating_z_known_values():
    user = np.array([0, 0, 1, 1])
    rating = np.array([2.0, 4.0, 3.0, 3.0])
    z = rating_z(user, rating, np.array([3.0, 3.0]), np.array([1.0, 0.0]))
    assert z.tolist() == [-1.0, 1.0, 0.0, 0.0]  # a user who rates everything alike has z = 0


def test_day_of_week_and_hour_in_utc():
    # 1970-01-01 00:00 was a Thursday; 2019-11-21 13:30 UTC was a Thursday too
    ts = np.array([0, 86_400 * 4 + 3600 * 5, 1_574_343_000])
    assert day_of_week(ts).tolist() == [3, 0, 3]
    assert hour_of_day(ts).tolist() == [0, 5, 13]


def test_rating_trend_slope_in_stars_per_year():
    year = 365.25 * 86_400
    movie = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    ts = (np.array([0, 1, 2, 0, 1, 5, 5, 5]) * year).astype(np.int64)
    rating = np.array([2.0, 3.0, 4.0, 1.0, 5.0, 1.0, 2.0, 3.0])
    slope = rating_trend(movie, ts, rating, 4)
    assert slope[0] == pytest.approx(1.0)
    assert slope[1] == 0.0  # fewer than 3 ratings
    assert slope[2] == 0.0  # all at one instant
    assert slope[3] == 0.0  # unrated


def test_genres_vocab_multi_hot_and_top_genres():
    genres = pd.Series(["Action|Comedy", "(no genres listed)", "Comedy"])
    vocab = genre_vocabulary(genres)
    assert vocab == ["Action", "Comedy"]
    assert genre_matrix(genres, vocab).tolist() == [[1, 1], [0, 0], [0, 1]]
    counts = np.array([[1, 3, 0], [2, 2, 0], [0, 0, 0]])
    assert top_genres(counts, ["A", "B", "C"], 2) == [["B", "A"], ["A", "B"], []]


def test_user_features_known_values():
    users = pd.DataFrame({"user_idx": [0, 1], "userId": [7, 9]})
    day = 86_400
    train = pd.DataFrame({"user_idx": [0, 0, 0, 1], "movie_idx": [0, 1, 2, 0], "rating": [1.0, 3.0, 5.0, 4.0],
                          "timestamp": [0, 30 * day, 61 * day, 91 * day]})  # fmt: skip
    mh = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.int8)
    uf = user_features(users, train, mh, ["Action", "Drama"], 1)
    u0 = uf.iloc[0]
    assert (u0.rating_count, u0.rating_mean, u0.rating_min, u0.rating_max, u0.rating_range) == (3, 3.0, 1.0, 5.0, 4.0)
    assert u0.rating_std == pytest.approx(np.std([1, 3, 5]))
    assert u0.active_days == pytest.approx(61) and u0.velocity == pytest.approx(3 / (61 / 30.44))
    assert u0.recency_days == pytest.approx(30)
    assert list(u0.top_genres) == ["Action"]
    u1 = uf.iloc[1]
    assert u1.velocity == 1.0 and u1.recency_days == 0 and u1.rating_std == 0  # a month at least


def test_movie_features_known_values():
    movies = pd.DataFrame({"movie_idx": [0, 1], "movieId": [1, 5], "title": ["Heat (1995)", "Babylon 5"],
                           "genres": ["Action|Crime", "(no genres listed)"]})  # fmt: skip
    train = pd.DataFrame({"user_idx": [0, 1, 2], "movie_idx": [0, 0, 0], "rating": [3.0, 4.0, 5.0],
                          "timestamp": [0, 10, 20]})  # fmt: skip
    mf = movie_features(movies, train, ["Action", "Crime"])
    assert mf.loc[0, "rating_count"] == 3 and mf.loc[0, "rating_mean"] == 4.0
    assert mf.loc[0, "popularity"] == pytest.approx(np.log(4))
    assert mf.loc[0, "year"] == 1995 and pd.isna(mf.loc[1, "year"])
    assert mf.loc[1, "rating_count"] == 0 and np.isnan(mf.loc[1, "rating_mean"])
    assert list(mf.loc[0, "genres"]) == ["Action", "Crime"] and list(mf.loc[1, "genres"]) == []
    assert mf[["genre_Action", "genre_Crime"]].to_numpy().tolist() == [[1, 1], [0, 0]]


def test_tag_features_count_each_user_once_and_rank():
    tags = pd.DataFrame({"userId": [1, 1, 2, 3, 3, 4], "movie_idx": [0, 0, 0, 0, 1, 1],
                         "tag": ["Dark", "dark", "dark", "funny", "funny", "rare"]})  # fmt: skip
    vocab, ids = tag_features(tags, 3, vocab_size=2, per_movie=5)
    assert vocab["tag"].tolist() == ["dark", "funny"] and vocab["count"].tolist() == [2, 2]
    assert ids == [[0, 1], [1], []]


def test_genome_matrix():
    scores = pd.DataFrame({"movie_idx": [0, 0, 2], "tagId": [10, 20, 20], "relevance": [0.5, 0.25, 1.0]})
    mat, tag_ids = genome_matrix(scores, 3)
    assert tag_ids.tolist() == [10, 20]
    assert mat.astype(float).tolist() == [[0.5, 0.25], [0, 0], [0, 1.0]]


def test_interaction_features_columns():
    train = pd.DataFrame({"user_idx": [0, 0], "movie_idx": [1, 2], "rating": [2.0, 4.0], "timestamp": [0, 3600]})
    uf = pd.DataFrame({"rating_mean": [3.0], "rating_std": [1.0]})
    out = interaction_features(train, uf)
    assert out["rating_z"].tolist() == [-1.0, 1.0] and out["hour"].tolist() == [0, 1]
