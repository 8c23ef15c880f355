"""Movie features: content (genres, year, tags, genome) and rating statistics from the training split only."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from movierec.data.normalize import NO_GENRES
from movierec.features.stats import grouped_moments

_YEAR = re.compile(r"\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")
_SECONDS_PER_YEAR = 365.25 * 86_400


def parse_year(title: str | None) -> int | None:
    """Release year from a MovieLens title such as ``"Heat (1995)"`` or ``"Babylon 5 (1994-1998)"``.

    Returns ``None`` when the title carries no plausible year (1870..2100).
    """
    if not isinstance(title, str):
        return None
    m = _YEAR.search(title)
    if not m:
        return None
    year = int(m.group(1))
    return year if 1870 <= year <= 2100 else None


def clean_title(title: str) -> str:
    """The title without its trailing ``(year)``."""
    return _YEAR.sub("", title).strip()


def genre_vocabulary(genres: pd.Series) -> list[str]:
    """Sorted genre names found in ``|``-separated genre strings, without the no-genre marker."""
    names = set()
    for g in genres.unique():
        names.update(x for x in str(g).split("|") if x and x != NO_GENRES)
    return sorted(names)


def genre_matrix(genres: pd.Series, vocab: list[str]) -> np.ndarray:
    """Multi-hot ``(n_movies, n_genres)`` int8 matrix in ``vocab`` order."""
    col = {g: i for i, g in enumerate(vocab)}
    out = np.zeros((len(genres), len(vocab)), dtype=np.int8)
    for row, g in enumerate(genres.to_numpy()):
        for name in str(g).split("|"):
            if name in col:
                out[row, col[name]] = 1
    return out


def rating_trend(movie_idx: np.ndarray, timestamp: np.ndarray, rating: np.ndarray, n: int, min_count: int = 3):
    """Least-squares slope of rating against time per movie, in stars per year, ``(n,)``.

    Zero where a movie has fewer than ``min_count`` ratings or all of them at one instant.
    """
    t = (timestamp - timestamp.min()).astype(np.float64) / _SECONDS_PER_YEAR if len(timestamp) else timestamp
    r = rating.astype(np.float64)
    cnt = np.bincount(movie_idx, minlength=n).astype(np.float64)
    st = np.bincount(movie_idx, t, minlength=n)
    sr = np.bincount(movie_idx, r, minlength=n)
    stt = np.bincount(movie_idx, t * t, minlength=n)
    str_ = np.bincount(movie_idx, t * r, minlength=n)
    den = cnt * stt - st * st
    ok = (cnt >= min_count) & (den > 1e-9 * np.maximum(cnt * stt, 1e-12))
    slope = np.zeros(n)
    slope[ok] = (cnt[ok] * str_[ok] - st[ok] * sr[ok]) / den[ok]
    return slope


def movie_features(movies: pd.DataFrame, train: pd.DataFrame, vocab: list[str]) -> pd.DataFrame:
    """One row per catalogue movie (``movie_idx`` order).

    Columns: ``movie_idx, movieId, title, clean_title, year`` (nullable), ``genres`` (list), one int8
    ``genre_<name>`` column per genre, ``rating_count``, ``popularity`` (``log1p(count)``), ``rating_mean``
    and ``rating_std`` (NaN when unrated), ``rating_trend`` (stars/year).
    """
    n = len(movies)
    m = train["movie_idx"].to_numpy()
    count, mean, std = grouped_moments(m, train["rating"].to_numpy(), n)
    years = [parse_year(t) for t in movies["title"]]
    out = pd.DataFrame(
        {
            "movie_idx": movies["movie_idx"].to_numpy(),
            "movieId": movies["movieId"].to_numpy(),
            "title": movies["title"].to_numpy(),
            "clean_title": [clean_title(t) for t in movies["title"]],
            "year": pd.array(years, dtype="Int16"),
            "genres": [[g for g in s.split("|") if g in vocab] for s in movies["genres"]],
            "rating_count": count.astype(np.int32),
            "popularity": np.log1p(count).astype(np.float32),
            "rating_mean": np.where(count > 0, mean, np.nan).astype(np.float32),
            "rating_std": np.where(count > 0, std, np.nan).astype(np.float32),
            "rating_trend": rating_trend(
                m, train["timestamp"].to_numpy(), train["rating"].to_numpy(), n
            ).astype(np.float32),
        }
    )
    multi_hot = genre_matrix(movies["genres"], vocab)
    genre_cols = pd.DataFrame(multi_hot, columns=[f"genre_{g}" for g in vocab])
    return pd.concat([out, genre_cols], axis=1)


def tag_features(tags: pd.DataFrame, n_movies: int, vocab_size: int, per_movie: int):
    """Tag vocabulary and per-movie tag ids.

    A tag counts once per (user, movie); tags are lower-cased. The vocabulary keeps the ``vocab_size`` tags
    used by most (user, movie) pairs. Returns ``(vocab, tag_ids)``: ``vocab`` a DataFrame
    ``tag_id, tag, count``; ``tag_ids`` a list per movie of up to ``per_movie`` vocabulary ids, most used first.
    """
    t = tags.assign(tag=tags["tag"].astype(str).str.lower().str.strip())
    t = t.drop_duplicates(["userId", "movie_idx", "tag"])
    counts = t["tag"].value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable").head(vocab_size)
    vocab = pd.DataFrame({"tag_id": np.arange(len(counts), dtype=np.int32), "tag": counts.index, "count": counts.values})
    tag_id = dict(zip(vocab["tag"], vocab["tag_id"]))
    t = t[t["tag"].isin(tag_id)]
    per = t.groupby(["movie_idx", "tag"]).size().rename("n").reset_index()
    per["tag_id"] = per["tag"].map(tag_id).astype(np.int32)
    per = per.sort_values(["movie_idx", "n", "tag_id"], ascending=[True, False, True]).groupby("movie_idx").head(per_movie)
    tag_ids: list[list[int]] = [[] for _ in range(n_movies)]
    for mi, tid in zip(per["movie_idx"].to_numpy(), per["tag_id"].to_numpy()):
        tag_ids[mi].append(int(tid))
    return vocab, tag_ids


def genome_matrix(scores: pd.DataFrame, n_movies: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``(n_movies, n_genome_tags)`` float16 relevance matrix (rows of zeros where a movie has no
    genome) and the genome ``tagId`` of each column."""
    tag_ids = np.unique(scores["tagId"].to_numpy())
    mat = np.zeros((n_movies, len(tag_ids)), dtype=np.float16)
    mat[scores["movie_idx"].to_numpy(), np.searchsorted(tag_ids, scores["tagId"].to_numpy())] = scores[
        "relevance"
    ].to_numpy()
    return mat, tag_ids
