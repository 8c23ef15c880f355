"""What the service reads besides the checkpoint and the embeddings, written by the `index` stage into one folder:

- ``qdrant/``: the movie vector index (see :mod:`movierec.retrieval.index`);
- ``catalog.parquet``: ``movie_idx, movieId, title, year, genres, rating_count, rating_mean``;
- ``history_indptr.npy``, ``history_items.npy``, ``history_ratings.npy``: every known rating by user (offsets
  by ``user_idx``, then ``movie_idx`` and stars): what a known user has already seen, and what explanations
  point at. Plain arrays, so that every server worker maps the same file pages instead of holding a copy;
- ``onboarding.json``: movie ids a new visitor is asked to rate; ``profiles.json``: the demo profiles;
  ``trending.json``: the most rated movies of the data's latest weeks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data.normalize import NO_GENRES
from movierec.data.prepare import write_parquet
from movierec.errors import MovieRecError
from movierec.serving.profiles import demo_profiles, onboarding_movies, trending_movies
from movierec.utils import atomic_path, write_json

CATALOG_COLUMNS = ["movie_idx", "movieId", "title", "year", "genres", "rating_count", "rating_mean"]


TAGS_PER_MOVIE = 3  # a movie's most used tags an explanation may cite


def catalog_table(movie_features: pd.DataFrame, tag_vocab: pd.DataFrame | None = None) -> pd.DataFrame:
    """The served catalogue, in ``movie_idx`` order; ``tags``: each movie's most used tags (lower-case; none
    without ``tag_vocab``)."""
    mf = movie_features.sort_values("movie_idx").reset_index(drop=True)
    cat = mf[CATALOG_COLUMNS].copy()
    cat["genres"] = cat["genres"].map(lambda gs: [g for g in gs if g != NO_GENRES])
    if tag_vocab is not None and "tag_ids" in mf:
        names = dict(zip(tag_vocab["tag_id"].astype(int), tag_vocab["tag"].astype(str)))
        cat["tags"] = mf["tag_ids"].map(lambda ids: [names[int(t)] for t in list(ids)[:TAGS_PER_MOVIE] if int(t) in names])
    else:
        cat["tags"] = [[] for _ in range(len(cat))]
    return cat


def movie_payloads(catalog: pd.DataFrame) -> list[dict]:
    """One Qdrant payload per movie, in ``movie_idx`` order (an unknown year is left out, not null)."""
    out = []
    for row in catalog.itertuples(index=False):
        p = {"movie_id": int(row.movieId), "title": str(row.title), "genres": list(row.genres),
             "popularity": int(row.rating_count)}  # fmt: skip
        if not pd.isna(row.year):
            p["year"] = int(row.year)
        out.append(p)
    return out


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def write_bundle(out: Path, catalog: pd.DataFrame, ratings: pd.DataFrame, user_ids: pd.Series,
                 onboarding_size: int, demo_min_ratings: int, trending_weeks: int = 26,
                 trending_blend: float = 0.0) -> dict:  # fmt: skip
    """Write everything but the index; return the onboarding ids, profiles and trending movies for the stage's
    report. ``ratings`` needs ``timestamp`` for the trending movies (none without it)."""
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(catalog, out / "catalog.parquet")
    # one lexsort over the two id arrays: no per-column factorising of ml-25m's 25M rows
    users = ratings["user_idx"].to_numpy()
    order = np.lexsort((ratings["movie_idx"].to_numpy(), users))
    r = pd.DataFrame({c: ratings[c].to_numpy()[order] for c in ("user_idx", "movie_idx", "rating")})
    del order
    indptr = np.zeros(len(user_ids) + 1, np.int64)
    np.cumsum(np.bincount(users, minlength=len(user_ids))[: len(user_ids)], out=indptr[1:])
    _save(out / "history_indptr.npy", indptr)
    _save(out / "history_items.npy", r["movie_idx"].to_numpy(np.int32))
    _save(out / "history_ratings.npy", r["rating"].to_numpy(np.float32))
    onboarding = onboarding_movies(catalog, onboarding_size)
    profiles = demo_profiles(r, catalog, user_ids, min_ratings=demo_min_ratings)
    stamps = ratings["timestamp"].to_numpy() if "timestamp" in ratings else np.zeros(0, np.int64)
    trending = trending_movies(ratings["movie_idx"].to_numpy()[: len(stamps)], stamps, catalog, trending_weeks)
    trending["blend"] = trending_blend  # the trending list's share for a one-rating profile (models/blend.py)
    write_json(out / "onboarding.json", onboarding)
    write_json(out / "profiles.json", profiles)
    write_json(out / "trending.json", trending)
    return {"onboarding": onboarding, "profiles": profiles, "trending": trending}


@dataclass
class Bundle:
    catalog: pd.DataFrame
    indptr: np.ndarray  # (n_users + 1,) offsets into items/ratings, by user_idx
    items: np.ndarray  # (n_ratings,) movie_idx (int32, memory-mapped)
    ratings: np.ndarray  # (n_ratings,) stars (float32, memory-mapped)
    onboarding: list[int]
    profiles: list[dict]
    trending: dict  # see profiles.trending_movies; empty where the bundle predates it

    def history(self, user_idx: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's rated movies (int64) and stars (float32), copied out of the mapped arrays."""
        s, e = self.indptr[user_idx], self.indptr[user_idx + 1]
        return self.items[s:e].astype(np.int64), np.array(self.ratings[s:e])


def load_bundle(folder: str | Path, n_users: int) -> Bundle:
    folder = Path(folder)
    missing = [n for n in ("catalog.parquet", "history_indptr.npy", "history_items.npy", "history_ratings.npy")
               if not (folder / n).exists()]  # fmt: skip
    if missing:
        raise MovieRecError(f"no serving bundle in {folder} (missing {', '.join(missing)}): run `dvc repro index`")
    catalog = pd.read_parquet(folder / "catalog.parquet")
    catalog["genres"] = catalog["genres"].map(list)
    indptr = np.load(folder / "history_indptr.npy")
    if len(indptr) != n_users + 1:
        raise MovieRecError(f"the serving bundle in {folder} holds {len(indptr) - 1:,} users, the embeddings "
                            f"{n_users:,}: run `dvc repro index` again")  # fmt: skip
    return Bundle(catalog=catalog, indptr=indptr, items=np.load(folder / "history_items.npy", mmap_mode="r"),
                  ratings=np.load(folder / "history_ratings.npy", mmap_mode="r"),
                  onboarding=json.loads((folder / "onboarding.json").read_text()),
                  profiles=json.loads((folder / "profiles.json").read_text()),
                  trending=json.loads((folder / "trending.json").read_text()) if (folder / "trending.json").exists() else {})  # fmt: skip
