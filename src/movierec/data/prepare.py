"""Raw MovieLens CSVs -> validated, indexed, split Parquet files and ``statistics.json``.

Outputs in ``out_dir``:

- ``train.parquet``, ``test.parquet`` and, when ``val_fraction > 0``, ``val.parquet``: one row per rating with
  ``user_idx, movie_idx, userId, movieId, rating, timestamp``, sorted by user then time.
- ``user_index.parquet`` (``userId -> user_idx``) and ``movie_index.parquet`` (``movieId -> movie_idx``):
  contiguous integer maps. Every movie of ``movies.csv`` gets an index, rated or not, so that content-only
  movies can still be embedded and served.
- ``movies.parquet``: ``movie_idx, movieId, title, genres``.
- ``tags.parquet`` when the dataset has tags, without the tags a user put on a held-out movie (they would
  leak the hold-out into features); ``genome_scores.parquet`` and ``genome_tags.parquet`` when present.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from movierec.data.normalize import NO_GENRES
from movierec.data.split import split_per_user
from movierec.data.tables import (
    GENOME_SCORES,
    GENOME_TAGS,
    LINE,
    MOVIES,
    RATINGS,
    TAGS,
    BadRows,
    TableSpec,
    read_table,
)
from movierec.errors import DataValidationError
from movierec.utils import atomic_dir, atomic_path

@dataclass(frozen=True)
class PrepareConfig:
    split: str = "random"  # random | temporal
    test_fraction: float = 0.2
    val_fraction: float = 0.1  # carved from each user's training ratings; 0 disables
    seed: int = 42
    bad_rows: str = "error"  # error | skip


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp, compression="zstd")


def load_movies(raw: Path, bad: BadRows) -> pd.DataFrame:
    movies = read_table(raw / MOVIES.file, MOVIES, bad)
    _flag(bad, movies, MOVIES, movies["movieId"] <= 0, "movieId is not a positive integer")
    movies = movies[movies["movieId"] > 0]
    dup = movies["movieId"].duplicated(keep="first").to_numpy()
    _flag(bad, movies, MOVIES, dup, "duplicate movieId")
    movies = movies[~dup]
    title = movies["title"].fillna("").str.strip()
    _flag(bad, movies, MOVIES, (title == "").to_numpy(), "title is empty")
    movies = movies.assign(title=title)[title != ""]
    genres = movies["genres"].fillna("").str.strip()
    movies = movies.assign(genres=genres.where(genres != "", NO_GENRES))
    bad.check(MOVIES.file)
    return movies.sort_values("movieId").reset_index(drop=True)


def load_ratings(raw: Path, movie_ids: np.ndarray, bad: BadRows) -> pd.DataFrame:
    """Read and validate ratings: positive ids, half stars in 0.5..5.0, sane timestamps, known movies,
    no duplicate (user, movie) pairs (with ``skip``, the latest rating of a pair is kept)."""
    df = read_table(raw / RATINGS.file, RATINGS, bad)
    now = int(time.time()) + 86_400
    checks = [
        ((df["userId"] <= 0) | (df["userId"] > np.iinfo(np.int32).max), "userId is not a positive 32-bit integer"),
        ((df["movieId"] <= 0) | (df["movieId"] > np.iinfo(np.int32).max), "movieId is not a positive integer"),
        (
            ~df["rating"].between(0.5, 5.0) | (df["rating"] * 2 != np.round(df["rating"] * 2)),
            "rating is not between 0.5 and 5.0 in steps of 0.5",
        ),
        ((df["timestamp"] < 0) | (df["timestamp"] > now), "timestamp is not a time between 1970 and now"),
    ]
    keep = np.ones(len(df), dtype=bool)
    for mask, reason in checks:
        m = mask.to_numpy() & keep
        _flag(bad, df, RATINGS, m, reason)
        keep &= ~m
    unknown = keep & ~is_member(df["movieId"].to_numpy(), movie_ids)
    _flag(bad, df, RATINGS, unknown, "movieId is not in movies.csv")
    keep &= ~unknown
    if not keep.all():
        df = df[keep]
    pair = (df["userId"].to_numpy() << 32) | df["movieId"].to_numpy()
    if not pd.Index(pair).is_unique:  # rare: sort only when there is something to resolve
        # keep the latest rating of each (user, movie); on a tie, the later line
        df = df.sort_values(["userId", "movieId", "timestamp", LINE], kind="stable")
        dup = df.duplicated(["userId", "movieId"], keep="last").to_numpy()
        _flag(bad, df, RATINGS, dup, "duplicate (userId, movieId) rating")
        df = df[~dup]
    bad.check(RATINGS.file)
    return df.drop(columns=LINE).reset_index(drop=True)


def is_member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin`` for a sorted, duplicate-free ``sorted_set``, by binary search (no sort of ``values``)."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[pos] == values


def _flag(bad: BadRows, df: pd.DataFrame, spec: TableSpec, mask, reason: str) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        bad.flag(spec.file, reason, df[LINE].to_numpy()[mask])


def prepare(raw_dir: str | Path, out_dir: str | Path, cfg: PrepareConfig, origin: str = "") -> dict:
    """Validate, index and split the dataset in ``raw_dir``; write Parquet to ``out_dir``; return statistics.
    The folder is filled beside ``out_dir`` and swapped in whole: a failure leaves the previous one.
    ``origin``: where the raw files came from, named in error messages (e.g. the user's folder)."""
    with atomic_dir(out_dir) as out:
        return _prepare(Path(raw_dir), out, cfg, origin)


def _prepare(raw: Path, out: Path, cfg: PrepareConfig, origin: str = "") -> dict:
    bad = BadRows(cfg.bad_rows, origin)
    rng = np.random.default_rng(cfg.seed)

    progress = tqdm(total=5, desc="prepare", unit="step", disable=None)  # terminals only
    progress.set_postfix_str("reading movies")
    movies = load_movies(raw, bad)
    progress.update()
    progress.set_postfix_str("reading and validating ratings")
    ratings = load_ratings(raw, movies["movieId"].to_numpy(), bad)
    progress.update()
    progress.set_postfix_str("indexing and splitting")
    if ratings.empty:
        raise DataValidationError(f"{bad.name(RATINGS.file)}: no valid ratings left; nothing to train on")

    user_ids = np.sort(pd.unique(ratings["userId"].to_numpy()))
    movie_ids = movies["movieId"].to_numpy()
    user_idx = np.searchsorted(user_ids, ratings["userId"].to_numpy()).astype(np.int32)
    movie_idx = np.searchsorted(movie_ids, ratings["movieId"].to_numpy()).astype(np.int32)
    ts = ratings["timestamp"].to_numpy().astype(np.int64)
    # one canonical order for every output: user, then time, then movie
    order = np.lexsort((movie_idx, ts, user_idx))
    ratings = pd.DataFrame(
        {
            "user_idx": user_idx[order],
            "movie_idx": movie_idx[order],
            "userId": ratings["userId"].to_numpy().astype(np.int32)[order],
            "movieId": ratings["movieId"].to_numpy().astype(np.int32)[order],
            "rating": ratings["rating"].to_numpy().astype(np.float32)[order],
            "timestamp": ts[order],
        }
    )
    del user_idx, movie_idx, ts, order
    is_test = split_per_user(
        ratings["user_idx"].to_numpy(), ratings["timestamp"].to_numpy(), cfg.test_fraction, cfg.split, rng
    )
    is_val = np.zeros(len(ratings), dtype=bool)
    if cfg.val_fraction > 0:
        train_rows = np.flatnonzero(~is_test)
        sub = ratings.iloc[train_rows]
        held = split_per_user(
            sub["user_idx"].to_numpy(), sub["timestamp"].to_numpy(), cfg.val_fraction, cfg.split, rng
        )
        is_val[train_rows[held]] = True

    parts = {"train": ~is_test & ~is_val, "test": is_test}
    if cfg.val_fraction > 0:
        parts["val"] = is_val
    progress.update()
    progress.set_postfix_str("writing Parquet")
    for name, mask in parts.items():
        write_parquet(ratings[mask].reset_index(drop=True), out / f"{name}.parquet")

    write_parquet(pd.DataFrame({"userId": user_ids.astype(np.int32), "user_idx": np.arange(len(user_ids), dtype=np.int32)}), out / "user_index.parquet")  # noqa: E501
    movie_idx = np.arange(len(movie_ids), dtype=np.int32)
    write_parquet(pd.DataFrame({"movieId": movie_ids.astype(np.int32), "movie_idx": movie_idx}), out / "movie_index.parquet")  # noqa: E501
    write_parquet(
        pd.DataFrame(
            {
                "movie_idx": movie_idx,
                "movieId": movie_ids.astype(np.int32),
                "title": movies["title"].astype(str).to_numpy(),
                "genres": movies["genres"].astype(str).to_numpy(),
            }
        ),
        out / "movies.parquet",
    )

    progress.update()
    progress.set_postfix_str("tags and genome")
    extra = _side_tables(raw, out, movie_ids, user_ids, ratings[is_test | is_val], bad)
    progress.update()
    progress.close()
    r = ratings["rating"].to_numpy(dtype=np.float64)
    n_users = len(user_ids)
    n_rated = int(np.count_nonzero(np.bincount(ratings["movie_idx"].to_numpy(), minlength=len(movie_ids))))
    return {
        "n_users": n_users,
        "n_movies": n_rated,
        "n_movies_catalog": len(movie_ids),
        "n_ratings": len(ratings),
        "sparsity": 1.0 - len(ratings) / (n_users * n_rated),
        "avg_rating": float(r.mean()),
        "rating_std": float(r.std()),
        "split": {name: int(mask.sum()) for name, mask in parts.items()},
        "split_method": cfg.split,
        "rows_skipped": bad.summary(),
        **extra,
    }


def _side_tables(raw, out, movie_ids, user_ids, holdout: pd.DataFrame, bad: BadRows) -> dict:
    """Tags and genome tables, when the dataset has them. Tags on held-out (user, movie) pairs are dropped."""
    stats: dict = {}
    if (raw / TAGS.file).is_file():
        tags = read_table(raw / TAGS.file, TAGS, bad)
        unknown = ~is_member(tags["movieId"].to_numpy(), movie_ids)
        _flag(bad, tags, TAGS, unknown, "movieId is not in movies.csv")
        tags = tags[~unknown]
        tags = tags.assign(tag=tags["tag"].fillna("").astype(str).str.strip())
        tags = tags[tags["tag"] != ""]
        bad.check(TAGS.file)
        pair = tags["userId"].to_numpy() * (1 << 32) + tags["movieId"].to_numpy()
        held_pair = holdout["userId"].to_numpy().astype(np.int64) * (1 << 32) + holdout["movieId"].to_numpy()
        leak = np.isin(pair, held_pair)
        tags = tags[~leak]
        tags = tags.assign(movie_idx=np.searchsorted(movie_ids, tags["movieId"].to_numpy()).astype(np.int32))
        write_parquet(tags[["movie_idx", "movieId", "userId", "tag", "timestamp"]].reset_index(drop=True), out / "tags.parquet")  # noqa: E501
        stats["n_tags"] = len(tags)
        stats["tags_dropped_holdout"] = int(leak.sum())
    if (raw / GENOME_SCORES.file).is_file() and (raw / GENOME_TAGS.file).is_file():
        scores = read_table(raw / GENOME_SCORES.file, GENOME_SCORES, bad).drop(columns=LINE)
        scores = scores[is_member(scores["movieId"].to_numpy(), movie_ids)]
        scores = scores.assign(movie_idx=np.searchsorted(movie_ids, scores["movieId"].to_numpy()).astype(np.int32))
        write_parquet(scores.astype({"tagId": np.int32, "relevance": np.float32}), out / "genome_scores.parquet")
        gtags = read_table(raw / GENOME_TAGS.file, GENOME_TAGS, bad).drop(columns=LINE)
        write_parquet(gtags.astype({"tagId": np.int32}), out / "genome_tags.parquet")
        stats["n_genome_tags"] = len(gtags)
    return stats
