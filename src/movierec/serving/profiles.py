"""Chosen from the data, never hard-coded: the movies a new visitor is asked to rate, and the demo profiles.

Onboarding suggestions are popular movies picked greedily so that together they cover the major genres and
decades: a visitor recognises most of them, and their ratings say something about taste in each direction.

Demo profiles are real users of the dataset, each the strongest example of a kind of taste:

- ``action_lover`` / ``romance_fan``: the highest share of 4+ star ratings on Action / Romance movies;
- ``film_buff``: the broadest taste: genre entropy of their ratings plus the share of tail (less popular) movies;
- ``harsh_critic``: the lowest mean rating.

Only users with at least ``min_ratings`` ratings qualify, and no user plays two profiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.data.normalize import NO_GENRES


def _decade(year) -> int | None:
    return None if pd.isna(year) else int(year) // 10 * 10


def onboarding_movies(catalog: pd.DataFrame, n: int = 15, pool: int = 300) -> list[int]:
    """``n`` movie ids from the ``pool`` most rated, chosen greedily: each pick maximises
    (new major genres covered) + 0.5 x (new decade) + popularity in 0..1. ``catalog`` needs ``movieId``,
    ``genres`` (lists), ``year`` and ``rating_count``."""
    cand = catalog.nlargest(min(pool, len(catalog)), "rating_count").reset_index(drop=True)
    if cand.empty:
        return []
    genre_counts = pd.Series([g for gs in cand["genres"] for g in gs if g != NO_GENRES]).value_counts()
    major = set(genre_counts.index[:10])
    pop = cand["rating_count"].to_numpy(np.float64)
    pop = pop / max(pop.max(), 1.0)
    covered_g: set[str] = set()
    covered_d: set[int | None] = set()
    chosen: list[int] = []
    free = np.ones(len(cand), bool)
    for _ in range(min(n, len(cand))):
        best, best_score = -1, -np.inf
        for i in np.flatnonzero(free):
            g = (set(cand.at[i, "genres"]) & major) - covered_g
            d = _decade(cand.at[i, "year"])
            score = len(g) + (0.5 if d is not None and d not in covered_d else 0.0) + pop[i]
            if score > best_score:
                best, best_score = i, score
        free[best] = False
        covered_g |= set(cand.at[best, "genres"]) & major
        covered_d.add(_decade(cand.at[best, "year"]))
        chosen.append(int(cand.at[best, "movieId"]))
    return chosen


def _per_user(users: np.ndarray, n_users: int, values: np.ndarray | None = None) -> np.ndarray:
    """Per-user sums of ``values`` (counts when None) over rows owned by ``users``."""
    return np.bincount(users, weights=values, minlength=n_users)[:n_users]


def demo_profiles(ratings: pd.DataFrame, catalog: pd.DataFrame, user_ids: pd.Series, min_ratings: int = 20,
                  liked: float = 4.0, min_liked: int = 10) -> list[dict]:  # fmt: skip
    """Four demo profiles (see the module docstring). ``ratings``: ``user_idx, movie_idx, rating``;
    ``catalog``: ``movie_idx, genres, rating_count``; ``user_ids``: ``userId`` by ``user_idx``. A genre
    lover needs ``min_liked`` ratings of ``liked`` stars or more: a share of 3 liked movies says little.

    Every figure is a per-user sum over the rating arrays (``np.bincount``) or a product with the small
    movie x genre table: the ratings are never expanded per genre, so this holds at ml-25m size."""
    users = ratings["user_idx"].to_numpy(np.int64)
    movies = ratings["movie_idx"].to_numpy(np.int64)
    stars = ratings["rating"].to_numpy(np.float64)
    n_users = int(users.max()) + 1 if len(users) else 0
    counts = _per_user(users, n_users)
    is_eligible = counts >= min_ratings
    if not is_eligible.any():
        return []
    eligible = np.flatnonzero(is_eligible)

    # movie x genre indicators, in movie_idx order (movies missing from the catalogue have none)
    cat = catalog.set_index("movie_idx")
    n_movies = max(int(movies.max()) + 1, int(cat.index.max()) + 1)
    genre_lists = cat["genres"].reindex(range(n_movies)).map(lambda gs: list(gs) if isinstance(gs, (list, np.ndarray)) else [])
    genres = sorted({g for gs in genre_lists for g in gs})
    col = {g: j for j, g in enumerate(genres)}
    has = np.zeros((n_movies, len(genres)), bool)
    for m, gs in enumerate(genre_lists):
        has[m, [col[g] for g in gs]] = True
    pop = cat["rating_count"].reindex(range(n_movies)).to_numpy(np.float64)

    is_liked = stars >= liked
    n_liked = _per_user(users[is_liked], n_users)
    used: set[int] = set()
    out: list[dict] = []

    def series(values: np.ndarray) -> pd.Series:
        return pd.Series(values[eligible], index=eligible)

    def pick(key: str, name: str, scores: pd.Series, describe) -> None:
        scores = scores.drop(index=list(used), errors="ignore").dropna()
        if scores.empty:
            return
        u = int(scores.sort_values(ascending=False, kind="stable").index[0])
        used.add(u)
        out.append({"key": key, "name": name, "user_id": int(user_ids.iloc[u]), "n_ratings": int(counts[u]),
                    "description": describe(u)})  # fmt: skip

    with np.errstate(invalid="ignore", divide="ignore"):
        for key, name, genre in (("action_lover", "Action lover", "Action"), ("romance_fan", "Romance fan", "Romance")):
            of_genre = has[:, col[genre]] if genre in col else np.zeros(n_movies, bool)
            in_liked = _per_user(users[is_liked], n_users, of_genre[movies[is_liked]].astype(np.float64))
            share = in_liked / n_liked  # NaN for users with no liked rating
            base = float(np.nanmean(share)) if (n_liked > 0).any() else 0.0
            share = np.where(n_liked >= min_liked, share, np.nan)
            pick(key, name, series(share), lambda u, s=share, g=genre, b=base: (
                f"{s[u]:.0%} of their {int(n_liked[u])} ratings of {liked:g}+ stars are {g} movies "
                f"(a typical user: {b:.0%}); {int(counts[u])} ratings in all."))  # fmt: skip

        # film buff: broad genre mix and a taste for the tail
        dist = np.zeros((n_users, len(genres)))
        for j in range(len(genres)):
            dist[:, j] = _per_user(users, n_users, has[movies, j].astype(np.float64))
        total = dist.sum(axis=1, keepdims=True)
        p = dist / total  # NaN rows: users whose movies have no genre
        entropy = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)
        entropy[total[:, 0] == 0] = np.nan
        tail_cut = np.nanquantile(cat["rating_count"].to_numpy(np.float64), 0.9)
        tail = _per_user(users, n_users, (pop[movies] < tail_cut).astype(np.float64)) / counts
        top = np.nanmax(entropy[eligible]) if np.isfinite(entropy[eligible]).any() else 0.0
        buff = entropy / max(float(top), 1e-9) + tail + np.log(counts) / np.log(counts.max() + 1)
        n_genres = (dist > 0).sum(axis=1)
        pick("film_buff", "Film buff", series(buff), lambda u: (
            f"{int(counts[u])} ratings across {n_genres[u]} genres; {tail[u]:.0%} of them outside the 10% most rated movies."))

        mean = _per_user(users, n_users, stars) / counts
        overall_mean = float(stars[is_eligible[users]].mean())
        pick("harsh_critic", "Harsh critic", series(-mean), lambda u: (
            f"Mean rating {mean[u]:.2f} stars over {int(counts[u])} ratings (everyone: {overall_mean:.2f})."))
    return out


def trending_movies(movie_idx: np.ndarray, timestamps: np.ndarray, catalog: pd.DataFrame, weeks: int,
                    n: int = 100) -> dict:  # fmt: skip
    """The ``n`` most rated movies over the latest ``weeks`` of the data (ties: the most rated of all time), as
    ``{"weeks", "since", "until", "movie_ids", "counts"}`` (``counts``: each one's ratings in those weeks): what a
    visitor with no ratings sees first. ``catalog``:
    ``movie_idx, movieId, rating_count``."""
    if len(timestamps) == 0:
        return {"weeks": weeks, "since": None, "until": None, "movie_ids": [], "counts": []}
    until = int(timestamps.max())
    since = until - weeks * 7 * 86_400
    recent = np.bincount(movie_idx[timestamps >= since], minlength=int(catalog["movie_idx"].max()) + 1)
    cat = catalog.set_index("movie_idx")
    idx = cat.index.to_numpy()
    order = np.lexsort((cat["movieId"].to_numpy(), -cat["rating_count"].to_numpy(), -recent[idx]))
    chosen = [(int(m), int(c)) for m, c in zip(cat["movieId"].to_numpy()[order], recent[idx][order]) if c > 0][:n]
    day = lambda t: pd.Timestamp(t, unit="s").strftime("%Y-%m-%d")  # noqa: E731
    return {"weeks": weeks, "since": day(since), "until": day(until), "movie_ids": [m for m, _ in chosen],
            "counts": [c for _, c in chosen]}  # fmt: skip
