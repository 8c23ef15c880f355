"""The synthetic generator: exact sizes, MovieLens shape, determinism, and a signal a model can learn."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from movierec.data.prepare import PrepareConfig, prepare
from movierec.data.synthetic import SyntheticConfig, generate
from movierec.features.movie import parse_year

SMALL = SyntheticConfig(n_users=300, n_movies=400, n_ratings=20_000, seed=5)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn")
    generate(SMALL, out)
    return out


def test_exact_sizes_and_valid_values(data):
    r = pd.read_csv(data / "ratings.csv")
    m = pd.read_csv(data / "movies.csv")
    assert len(r) == 20_000 and r["userId"].nunique() == 300 and len(m) == 400
    assert not r.duplicated(["userId", "movieId"]).any()
    assert set(r["rating"].unique()) <= {x / 2 for x in range(1, 11)}
    assert r.groupby("userId").size().min() >= 20
    assert r["movieId"].isin(m["movieId"]).all()
    assert r["timestamp"].between(820_454_400, 1_574_294_400).all()
    assert m["title"].map(parse_year).notna().mean() > 0.95
    assert (m["genres"].str.len() > 0).all()


def test_shape_is_movielens_like(data):
    r = pd.read_csv(data / "ratings.csv")
    share = r["rating"].value_counts(normalize=True)
    assert share.idxmax() == 4.0
    assert share[4.0] > share[4.5] and share[3.0] > share[2.5]  # whole stars beat half stars
    per_user = r.groupby("userId").size()
    assert per_user.max() > 4 * per_user.median()  # heavy-tailed (capped at half the catalogue)
    per_movie = np.sort(r.groupby("movieId").size().to_numpy())[::-1]
    assert per_movie[: len(per_movie) // 5].sum() > 0.45 * per_movie.sum()  # a fifth of the movies: half the ratings
    assert (per_movie < 5).sum() > 0  # and a cold tail


def test_deterministic_for_a_seed(data, tmp_path):
    generate(SMALL, tmp_path / "again")
    for name in ["ratings.csv", "movies.csv", "tags.csv"]:
        assert hashlib.md5((data / name).read_bytes()).digest() == hashlib.md5((tmp_path / "again" / name).read_bytes()).digest()  # noqa: E501
    generate(SyntheticConfig(n_users=300, n_movies=400, n_ratings=20_000, seed=6), tmp_path / "other")
    assert (data / "ratings.csv").read_bytes() != (tmp_path / "other" / "ratings.csv").read_bytes()


def test_taste_is_learnable(data):
    """Users rate movies of their favourite genre above their own average: a real signal."""
    r = pd.read_csv(data / "ratings.csv").merge(pd.read_csv(data / "movies.csv"), on="movieId")
    r["first_genre"] = r["genres"].str.split("|").str[0]
    user_mean = r.groupby("userId")["rating"].transform("mean")
    r["dev"] = r["rating"] - user_mean
    by = r.groupby(["userId", "first_genre"])["dev"].agg(["mean", "size"]).reset_index()
    best = by[by["size"] >= 5].sort_values("mean").groupby("userId").tail(1)
    worst = by[by["size"] >= 5].sort_values("mean").groupby("userId").head(1)
    assert best["mean"].mean() - worst["mean"].mean() > 0.5


def test_prepare_accepts_it(data, tmp_path):
    stats = prepare(data, tmp_path / "prep", PrepareConfig())
    assert stats["n_ratings"] == 20_000 and stats["rows_skipped"]["total"] == 0
    assert stats["n_tags"] > 0


def test_invalid_sizes():
    with pytest.raises(ValueError):
        SyntheticConfig(n_users=0)
    with pytest.raises(ValueError):
        SyntheticConfig(n_users=10, n_movies=10, n_ratings=60)


def test_heaviest_users_are_topped_up_exactly(tmp_path):
    """A tiny catalogue forces the uniform top-up path; counts stay exact."""
    generate(SyntheticConfig(n_users=40, n_movies=60, n_ratings=1_200, min_user_ratings=5, seed=1), tmp_path)
    r = pd.read_csv(tmp_path / "ratings.csv")
    assert len(r) == 1_200 and not r.duplicated(["userId", "movieId"]).any()
    assert np.all(r.groupby("userId").size() <= 30)
