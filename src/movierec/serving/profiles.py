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


def _genre_share(ratings: pd.DataFrame, catalog: pd.DataFrame, genre: str, liked: float) -> pd.Series:
    """Per user: the share of their ratings at or above ``liked`` that are of ``genre``."""
    has = catalog.set_index("movie_idx")["genres"].map(lambda gs: genre in gs)
    r = ratings[ratings["rating"] >= liked]
    return pd.Series(has.reindex(r["movie_idx"]).to_numpy(dtype=float), index=r["user_idx"].to_numpy()).groupby(level=0).mean()


def demo_profiles(ratings: pd.DataFrame, catalog: pd.DataFrame, user_ids: pd.Series, min_ratings: int = 20,
                  liked: float = 4.0, min_liked: int = 10) -> list[dict]:  # fmt: skip
    """Four demo profiles (see the module docstring). ``ratings``: ``user_idx, movie_idx, rating``;
    ``catalog``: ``movie_idx, genres, rating_count``; ``user_ids``: ``userId`` by ``user_idx``. A genre
    lover needs ``min_liked`` ratings of ``liked`` stars or more: a share of 3 liked movies says little."""
    counts = ratings.groupby("user_idx").size()
    eligible = counts[counts >= min_ratings].index
    if len(eligible) == 0:
        return []
    r = ratings[ratings["user_idx"].isin(eligible)]
    n_liked = r[r["rating"] >= liked].groupby("user_idx").size().reindex(eligible, fill_value=0)
    used: set[int] = set()
    out: list[dict] = []

    def pick(key: str, name: str, scores: pd.Series, describe) -> None:
        scores = scores.drop(index=list(used), errors="ignore").dropna()
        if scores.empty:
            return
        u = int(scores.sort_values(ascending=False, kind="stable").index[0])
        used.add(u)
        out.append({"key": key, "name": name, "user_id": int(user_ids.iloc[u]), "n_ratings": int(counts[u]),
                    "description": describe(u)})  # fmt: skip

    overall_mean = float(r["rating"].mean())
    for key, name, genre in (("action_lover", "Action lover", "Action"), ("romance_fan", "Romance fan", "Romance")):
        share = _genre_share(r, catalog, genre, liked).reindex(eligible)
        base = float(_genre_share(ratings, catalog, genre, liked).mean()) if len(share) else 0.0
        share = share.where(n_liked >= min_liked)
        pick(key, name, share, lambda u, s=share, g=genre, b=base: (
            f"{s[u]:.0%} of their {n_liked[u]} ratings of {liked:g}+ stars are {g} movies "
            f"(a typical user: {b:.0%}); {counts[u]} ratings in all."))  # fmt: skip

    # film buff: broad genre mix and a taste for the tail
    genre_of = catalog.set_index("movie_idx")["genres"]
    exploded = pd.DataFrame({"user_idx": r["user_idx"].to_numpy(), "genres": genre_of.reindex(r["movie_idx"]).to_numpy()})
    exploded = exploded.explode("genres")
    dist = exploded.groupby(["user_idx", "genres"]).size().unstack(fill_value=0)
    p = dist.div(dist.sum(axis=1), axis=0).to_numpy()
    entropy = pd.Series(-(p * np.log(np.where(p > 0, p, 1))).sum(axis=1), index=dist.index)
    pop = catalog.set_index("movie_idx")["rating_count"]
    tail_cut = pop.quantile(0.9)
    tail = pd.Series(pop.reindex(r["movie_idx"]).to_numpy() < tail_cut, index=r["user_idx"].to_numpy()).groupby(level=0).mean()
    buff = (entropy / max(float(entropy.max()), 1e-9) + tail + np.log(counts[eligible]) / np.log(counts.max() + 1)).reindex(eligible)
    n_genres = (dist > 0).sum(axis=1)
    pick("film_buff", "Film buff", buff, lambda u: (
        f"{counts[u]} ratings across {n_genres[u]} genres; {tail[u]:.0%} of them outside the 10% most rated movies."))

    mean = r.groupby("user_idx")["rating"].mean()
    pick("harsh_critic", "Harsh critic", -mean, lambda u: (
        f"Mean rating {mean[u]:.2f} stars over {counts[u]} ratings (everyone: {overall_mean:.2f})."))
    return out
