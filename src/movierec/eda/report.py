"""Exploratory plots of a prepared dataset: PNG for people, CSV for ``dvc plots show``.

Each ``*_data`` function returns the table behind one plot (tested on its own); :func:`make_eda` draws them.
The EDA describes the whole dataset (all splits): it feeds no model, so it cannot leak.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from movierec.features.interaction import day_of_week, hour_of_day  # noqa: E402
from movierec.utils import atomic_path  # noqa: E402

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def rating_histogram_data(ratings: pd.DataFrame) -> pd.DataFrame:
    """``rating, count, share`` for every half star 0.5..5.0 (zero counts included)."""
    stars = np.arange(1, 11) / 2
    counts = np.bincount(np.round(ratings["rating"].to_numpy() * 2).astype(int), minlength=11)[1:11]
    return pd.DataFrame({"rating": stars, "count": counts, "share": counts / max(counts.sum(), 1)})


def activity_cdf(counts: np.ndarray) -> pd.DataFrame:
    """``n_ratings, share`` where share is the fraction of entities with at most ``n_ratings`` ratings."""
    values, freq = np.unique(counts, return_counts=True)
    return pd.DataFrame({"n_ratings": values, "share": np.cumsum(freq) / max(len(counts), 1)})


def long_tail_data(movie_counts: np.ndarray) -> pd.DataFrame:
    """``rank, count, cum_share``: rated movies by popularity rank, and the share of ratings up to that rank."""
    c = np.sort(movie_counts[movie_counts > 0])[::-1]
    return pd.DataFrame({"rank": np.arange(1, len(c) + 1), "count": c, "cum_share": np.cumsum(c) / max(c.sum(), 1)})


def genre_data(ratings: pd.DataFrame, multi_hot: np.ndarray, vocab: list[str]) -> pd.DataFrame:
    """``genre, n_movies, n_ratings, mean_rating`` per genre (a movie counts in each of its genres)."""
    m = ratings["movie_idx"].to_numpy()
    per_movie_n = np.bincount(m, minlength=multi_hot.shape[0]).astype(np.float64)
    per_movie_sum = np.bincount(m, ratings["rating"].to_numpy().astype(np.float64), minlength=multi_hot.shape[0])
    mh = multi_hot.astype(np.float64)
    n = per_movie_n @ mh
    s = per_movie_sum @ mh
    return pd.DataFrame(
        {
            "genre": vocab,
            "n_movies": multi_hot.sum(axis=0).astype(int),
            "n_ratings": n.astype(np.int64),
            "mean_rating": np.divide(s, n, out=np.full(len(vocab), np.nan), where=n > 0),
        }
    )


def genre_cooccurrence(multi_hot: np.ndarray) -> np.ndarray:
    """``(n_genres, n_genres)`` count of movies carrying both genres (diagonal: movies with the genre)."""
    mh = multi_hot.astype(np.int64)
    return mh.T @ mh


def monthly_data(ratings: pd.DataFrame) -> pd.DataFrame:
    """``month`` (``YYYY-MM``), ``year`` (decimal, for a numeric axis), ``count``, ``mean_rating`` per month."""
    ts = pd.to_datetime(ratings["timestamp"].to_numpy(), unit="s")
    month = ts.year * 12 + ts.month - 1
    g = pd.DataFrame({"m": month, "r": ratings["rating"].to_numpy()}).groupby("m")["r"].agg(["count", "mean"])
    idx = g.index.to_numpy()
    return pd.DataFrame(
        {
            "month": [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in idx],
            "year": idx / 12.0,
            "count": g["count"].to_numpy(),
            "mean_rating": g["mean"].to_numpy(),
        }
    )


def weekly_hourly_counts(ts: np.ndarray) -> np.ndarray:
    """``(7, 24)`` ratings by UTC day of week (Monday first) and hour."""
    cell = day_of_week(ts).astype(np.int64) * 24 + hour_of_day(ts)
    return np.bincount(cell, minlength=7 * 24).reshape(7, 24)


def quality_summary(stats: dict, user_counts: np.ndarray, movie_counts: np.ndarray, movie_feats: pd.DataFrame, threshold: int) -> dict:  # noqa: E501
    """Sparsity, cold-start counts (fewer than ``threshold`` ratings) and content gaps."""
    rated = movie_counts[movie_counts > 0]
    return {
        "n_ratings": int(stats["n_ratings"]),
        "n_users": int(stats["n_users"]),
        "n_movies_rated": int(stats["n_movies"]),
        "n_movies_catalog": int(stats["n_movies_catalog"]),
        "sparsity": float(stats["sparsity"]),
        "cold_start_threshold": threshold,
        "cold_users": int((user_counts < threshold).sum()),
        "cold_movies": int((rated < threshold).sum()),
        "unrated_movies": int((movie_counts == 0).sum()),
        "movies_without_year": int(movie_feats["year"].isna().sum()),
        "movies_without_genres": int((movie_feats["genres"].map(len) == 0).sum()),
        "rows_skipped": int(stats.get("rows_skipped", {}).get("total", 0)),
    }


def rating_outliers(ratings: pd.DataFrame, min_ratings: int = 20) -> dict:
    """Users who give every movie the same rating (with at least ``min_ratings``), and the biggest bursts:
    the most ratings one user gave in one UTC day. ``ratings``: ``user_idx, rating, timestamp``."""
    per_user = ratings.groupby("user_idx")["rating"].agg(["size", "nunique", "mean"])
    flat = per_user[(per_user["size"] >= min_ratings) & (per_user["nunique"] == 1)]
    day = ratings["timestamp"].to_numpy() // 86_400
    bursts = (pd.DataFrame({"user_idx": ratings["user_idx"].to_numpy(), "day": day})
              .value_counts().rename("ratings").reset_index().head(10))  # fmt: skip
    bursts["date"] = pd.to_datetime(bursts["day"] * 86_400, unit="s").dt.strftime("%Y-%m-%d")
    return {"same_rating_users": flat.reset_index()[["user_idx", "size", "mean"]], "bursts": bursts[["user_idx", "date", "ratings"]]}


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def make_eda(prepared: str | Path, features: str | Path, out_dir: str | Path, stats: dict, threshold: int = 5) -> dict:
    """Draw every EDA plot into ``out_dir`` (PNG + CSV); return the data-quality summary."""
    prepared, features, out = Path(prepared), Path(features), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [pd.read_parquet(p, columns=["user_idx", "movie_idx", "rating", "timestamp"])
             for p in sorted(prepared.glob("*.parquet")) if p.stem in ("train", "val", "test")]  # fmt: skip
    ratings = pd.concat(parts, ignore_index=True)
    mf = pd.read_parquet(features / "movie_features.parquet")
    vocab = [c[len("genre_") :] for c in mf.columns if c.startswith("genre_")]
    multi_hot = mf[[f"genre_{g}" for g in vocab]].to_numpy()
    user_counts = np.bincount(ratings["user_idx"].to_numpy())
    movie_counts = np.bincount(ratings["movie_idx"].to_numpy(), minlength=len(mf))

    hist = rating_histogram_data(ratings)
    _csv(hist, out / "rating_histogram.csv")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(hist["rating"], hist["count"], width=0.4, color="#4C72B0")
    ax.set(xlabel="rating (stars)", ylabel="ratings", title="Rating distribution", xticks=hist["rating"])
    _save(fig, out / "rating_histogram.png")

    users_cdf, movies_cdf = activity_cdf(user_counts), activity_cdf(movie_counts[movie_counts > 0])
    _csv(users_cdf, out / "user_activity_cdf.csv")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    values, freq = np.unique(user_counts, return_counts=True)
    a1.loglog(values, freq, ".", alpha=0.6)
    a1.set(xlabel="ratings per user", ylabel="users", title="User activity (log-log)")
    a2.semilogx(users_cdf["n_ratings"], users_cdf["share"], label="users")
    a2.semilogx(movies_cdf["n_ratings"], movies_cdf["share"], label="rated movies")
    a2.set(xlabel="ratings", ylabel="share with at most x ratings", title="Activity CDF")
    a2.legend()
    _save(fig, out / "user_activity.png")

    tail = long_tail_data(movie_counts)
    _csv(tail, out / "item_long_tail.csv")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(tail["rank"], tail["count"], color="#C44E52")
    head = int(np.searchsorted(tail["cum_share"].to_numpy(), 0.8) + 1) if len(tail) else 0
    if head:
        ax.axvline(head, ls="--", color="grey")
        ax.text(head, tail["count"].max(), f" {head:,} movies ({head / len(tail):.0%}) hold 80% of ratings", va="top")
    ax.set(xlabel="movie popularity rank", ylabel="ratings (log)", title="Item long tail")
    _save(fig, out / "item_long_tail.png")

    genres = genre_data(ratings, multi_hot, vocab)
    _csv(genres, out / "genres.csv")
    order = genres.sort_values("n_movies")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5))
    a1.barh(order["genre"], order["n_movies"], color="#55A868")
    a1.set(xlabel="movies", title="Genre frequency")
    by_mean = genres.dropna().sort_values("mean_rating")
    a2.barh(by_mean["genre"], by_mean["mean_rating"], color="#8172B2")
    a2.set(xlabel="mean rating", title="Mean rating by genre", xlim=(max(0, by_mean["mean_rating"].min() - 0.3) if len(by_mean) else 0, 5))  # noqa: E501
    _save(fig, out / "genres.png")

    co = genre_cooccurrence(multi_hot)
    fig, ax = plt.subplots(figsize=(8, 7))
    im = ax.imshow(np.log1p(co), cmap="viridis")
    ax.set_xticks(range(len(vocab)), vocab, rotation=90)
    ax.set_yticks(range(len(vocab)), vocab)
    ax.set_title("Genre co-occurrence (log1p movies)")
    fig.colorbar(im, ax=ax)
    _save(fig, out / "genre_cooccurrence.png")

    monthly = monthly_data(ratings)
    _csv(monthly, out / "ratings_over_time.csv")
    fig, a1 = plt.subplots(figsize=(10, 4))
    a1.plot(monthly["year"], monthly["count"], color="#4C72B0")
    a1.set(xlabel="year", ylabel="ratings per month", title="Ratings over time")
    a2 = a1.twinx()
    a2.plot(monthly["year"], monthly["mean_rating"], color="#DD8452", alpha=0.7)
    a2.set_ylabel("mean rating", color="#DD8452")
    _save(fig, out / "ratings_over_time.png")

    grid = weekly_hourly_counts(ratings["timestamp"].to_numpy())
    _csv(pd.DataFrame([(DAYS[d], h, int(grid[d, h])) for d in range(7) for h in range(24)], columns=["day", "hour", "count"]), out / "weekly_hourly.csv")  # noqa: E501
    fig, ax = plt.subplots(figsize=(10, 3.5))
    im = ax.imshow(grid, aspect="auto", cmap="magma")
    ax.set(yticks=range(7), yticklabels=DAYS, xlabel="hour (UTC)", title="Ratings by day of week and hour")
    fig.colorbar(im, ax=ax)
    _save(fig, out / "weekly_hourly.png")

    summary = quality_summary(stats, user_counts, movie_counts, mf, threshold)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.axis("off")
    rows = [[k.replace("_", " "), f"{v:,.4f}" if isinstance(v, float) else f"{v:,}"] for k, v in summary.items()]
    table = ax.table(cellText=rows, colLabels=["measure", "value"], loc="center", cellLoc="left")
    table.scale(1, 1.3)
    ax.set_title("Data quality and cold start")
    _save(fig, out / "data_quality.png")
    return summary
