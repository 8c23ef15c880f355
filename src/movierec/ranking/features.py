"""Features of a (user, candidate) pair: one function, :func:`pair_features`, that the ranker's training, the
offline evaluation and the service all call, so that what was learned is what is served.

A user is only their history (rated movies and stars): a known user's known ratings, or a visitor's session.
Movie facts come from :class:`MovieFacts`, built once from the training ratings (never a held-out one) and the
movie features, and saved beside the booster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec.data.normalize import NO_GENRES
from movierec.training.data import RatingLists

# the ranker's inputs, in column order; the feature-importance plot names them
FEATURES = [
    "two_tower_score",  # the retrieval score as served (movie vector . user vector)
    "two_tower_rank",  # its rank among the candidates (0 = best)
    "two_tower_z",  # the score standardised over the user's candidates
    "itemitem_score",  # sparse EASE: the candidate's summed weights from the user's rated movies
    "itemitem_rank",
    "itemitem_z",
    "log_popularity",  # log(1 + training ratings of the movie)
    "log_recent_popularity",  # log(1 + its training ratings over the data's latest weeks)
    "movie_mean",  # its mean training rating, shrunk towards the overall mean (stars)
    "movie_year",  # release year (NaN: unknown)
    "user_log_count",  # log(1 + ratings in the history)
    "user_mean",  # the user's mean stars
    "user_std",  # the spread of their stars
    "genre_share",  # mean over the candidate's genres of the share of the user's ratings in that genre
    "genre_lift",  # mean over those genres of the user's mean stars in it minus their overall mean (NaN: none)
    "tag_match",  # share of the user's liked movies' tags that the candidate carries
    "year_gap",  # candidate year minus the mean year of the user's rated movies
    "popularity_gap",  # candidate log popularity minus the mean of the user's rated movies
]
SHRINK = 10  # a movie's mean rating counts as this many ratings at the overall mean


@dataclass
class MovieFacts:
    """Per-movie arrays in ``movie_idx`` order: what the features know of a movie."""

    log_popularity: np.ndarray  # (n_movies,) float32
    log_recent: np.ndarray  # (n_movies,) float32
    mean: np.ndarray  # (n_movies,) float32, shrunk
    year: np.ndarray  # (n_movies,) float32, NaN unknown
    genres: sp.csr_matrix  # (n_movies, n_genres) 0/1
    tags: sp.csr_matrix  # (n_movies, n_tags) 0/1

    def __post_init__(self):
        # dense for the request path: a few dozen genres, and row picks of a dense array cost microseconds
        self.genre_rows = self.genres.toarray().astype(np.float32)  # (n_movies, n_genres)

    @classmethod
    def build(cls, train: pd.DataFrame, movie_features: pd.DataFrame, recent_weeks: int) -> "MovieFacts":
        """From the training ratings (``movie_idx, rating, timestamp``) and ``movie_features``."""
        mf = movie_features.sort_values("movie_idx").reset_index(drop=True)
        n = len(mf)
        movie = train["movie_idx"].to_numpy()
        count = np.bincount(movie, minlength=n).astype(np.float64)
        total = np.bincount(movie, weights=train["rating"].to_numpy(np.float64), minlength=n)
        overall = float(train["rating"].mean()) if len(train) else 3.5
        ts = train["timestamp"].to_numpy()
        recent = np.zeros(n)
        if len(ts):
            recent = np.bincount(movie[ts >= ts.max() - recent_weeks * 7 * 86_400], minlength=n)
        vocab = sorted({g for gs in mf["genres"] for g in gs if g != NO_GENRES})
        col = {g: j for j, g in enumerate(vocab)}
        gr = [(i, col[g]) for i, gs in enumerate(mf["genres"]) for g in gs if g in col]
        n_tags = int(max((max(t) for t in mf["tag_ids"] if len(t)), default=-1)) + 1 if "tag_ids" in mf else 0
        tr = [(i, int(t)) for i, ts_ in enumerate(mf["tag_ids"]) for t in ts_] if n_tags else []
        return cls(
            log_popularity=np.log1p(count).astype(np.float32),
            log_recent=np.log1p(recent).astype(np.float32),
            mean=((total + SHRINK * overall) / (count + SHRINK)).astype(np.float32),
            year=mf["year"].to_numpy(np.float32, na_value=np.nan),
            genres=_binary(gr, (n, len(vocab))),
            tags=_binary(tr, (n, n_tags)),
        )

    def save(self, path: str | Path) -> None:
        arrays = {"log_popularity": self.log_popularity, "log_recent": self.log_recent, "mean": self.mean,
                  "year": self.year}  # fmt: skip
        for name in ("genres", "tags"):
            m = getattr(self, name).tocsr()
            arrays.update({f"{name}_indptr": m.indptr, f"{name}_indices": m.indices,
                           f"{name}_shape": np.array(m.shape)})  # fmt: skip
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "MovieFacts":
        z = np.load(path)
        mats = {}
        for name in ("genres", "tags"):
            indices = z[f"{name}_indices"]
            mats[name] = sp.csr_matrix((np.ones(len(indices), np.float32), indices, z[f"{name}_indptr"]),
                                       shape=tuple(z[f"{name}_shape"]))  # fmt: skip
        return cls(z["log_popularity"], z["log_recent"], z["mean"], z["year"], mats["genres"], mats["tags"])


def _binary(pairs: list[tuple[int, int]], shape: tuple[int, int]) -> sp.csr_matrix:
    rows = np.array([p[0] for p in pairs], np.int64)
    cols = np.array([p[1] for p in pairs], np.int64)
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    m.data[:] = 1.0  # a repeated pair is still one
    return m


def _rank(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), np.float32)
    rank[order] = np.arange(len(scores))
    return rank


def _z(scores: np.ndarray) -> np.ndarray:
    return ((scores - scores.mean()) / max(float(scores.std()), 1e-6)).astype(np.float32)


def pair_features(items: np.ndarray, ratings: np.ndarray, cand: np.ndarray, tt: np.ndarray, ii: np.ndarray,
                  facts: MovieFacts) -> np.ndarray:  # fmt: skip
    """``(len(cand), len(FEATURES))`` float32 for one user.

    ``items``/``ratings``: the user's history (movie_idx, stars); ``cand``: candidate movie_idx; ``tt`` and
    ``ii``: the two-tower and item-to-item scores of the candidates, ``(len(cand),)``.
    """
    n = len(items)
    out = np.empty((len(cand), len(FEATURES)), np.float32)
    out[:, 0], out[:, 1], out[:, 2] = tt, _rank(tt), _z(tt)
    out[:, 3], out[:, 4], out[:, 5] = ii, _rank(ii), _z(ii)
    out[:, 6] = facts.log_popularity[cand]
    out[:, 7] = facts.log_recent[cand]
    out[:, 8] = facts.mean[cand]
    year = facts.year[cand]
    out[:, 9] = year
    mean = float(ratings.mean()) if n else np.nan
    out[:, 10], out[:, 11] = np.log1p(n), mean
    out[:, 12] = float(ratings.std()) if n else np.nan
    cg = facts.genre_rows[cand]  # (c, G)
    n_genres = cg.sum(axis=1)
    if n:
        hist_g = facts.genre_rows[items]  # (n, G)
        g_count = hist_g.sum(axis=0)
        g_stars = hist_g.T @ ratings.astype(np.float32)
        lift = np.where(g_count > 0, g_stars / np.maximum(g_count, 1) - mean, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 13] = np.where(n_genres > 0, (cg @ (g_count / n)) / n_genres, 0.0)
            known = cg @ (g_count > 0).astype(np.float32)
            out[:, 14] = np.where(known > 0, (cg @ lift) / known, np.nan)
        liked = items[ratings >= mean]
        profile = np.asarray(facts.tags[liked].sum(axis=0)).ravel()
        total = profile.sum()
        out[:, 15] = (facts.tags[cand] @ profile) / total if total > 0 else 0.0
        hist_year = facts.year[items]
        out[:, 16] = year - (np.nanmean(hist_year) if np.isfinite(hist_year).any() else np.nan)
        out[:, 17] = out[:, 6] - facts.log_popularity[items].mean()
    else:
        out[:, 13:] = np.nan
        out[:, 13] = 0.0
        out[:, 15] = 0.0
    return out


def user_lists(known: RatingLists, user: int) -> tuple[np.ndarray, np.ndarray]:
    """A user's history from :class:`RatingLists`, as the service holds one (int64 movie_idx, float32 stars)."""
    items, ratings = known.of(user)
    return items.astype(np.int64), ratings.astype(np.float32)
