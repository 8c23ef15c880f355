"""MovieLens-shaped synthetic data at any scale, deterministic for a seed.

The generative story, chosen so that a recommender has something real to learn:

- Movies belong to *taste clusters*; each cluster has one or two primary genres and a centre in a latent
  space. Movie popularity follows a Zipf law (a long tail).
- Each user prefers a few clusters (a sparse Dirichlet draw) and has a rating bias (harsh critics exist).
  User activity is heavy-tailed (log-normal) with a floor of ``min_user_ratings``, as in MovieLens.
- A user picks movies mostly from preferred clusters, by popularity, otherwise from the global popularity
  law; each (user, movie) at most once. The rating is ``user bias + movie bias + <u, v> + noise``, mapped by quantiles onto half stars so the
  overall distribution matches MovieLens 25M (mode 4.0, whole stars more common than half stars).
- Timestamps fall inside each user's active period, never before the movie's release year.

At ml-25m size (162,541 users, 62,423 movies, 25,000,095 ratings) generation takes about a minute and a
few GB of memory; the output is the ml-25m CSV layout (``ratings.csv``, ``movies.csv``, ``tags.csv``).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from movierec.utils import atomic_path

GENRES = [
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
# MovieLens 25M's share of each half star, 0.5 .. 5.0.
RATING_SHARES = np.array([1.57, 3.14, 1.60, 6.63, 5.00, 19.59, 12.55, 26.55, 8.48, 14.39])
_ADJ = "Silent Crimson Last Broken Golden Hidden Wild Dark Bright Lonely Frozen Burning Lost Secret Iron".split()
_NOUN = "Harbor Empire Garden River Promise Shadow Kingdom Summer Machine Letter Storm Island Road Heart".split()
_TAG_WORDS = "atmospheric twist dark funny quirky visually-appealing classic slow cult clever".split()
_T_START = 820_454_400  # 1996-01-01 UTC
_T_END = 1_574_294_400  # 2019-11-21 UTC, the end of ml-25m


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and shape of the synthetic dataset (defaults: a laptop-sized set)."""

    n_users: int = 2_000
    n_movies: int = 3_000
    n_ratings: int = 200_000
    seed: int = 42
    n_clusters: int = 20  # taste clusters
    latent_dim: int = 16  # dimension of the hidden taste space
    min_user_ratings: int = 20  # every MovieLens user has at least 20 ratings
    popularity_exponent: float = 1.8  # Zipf exponent of movie popularity (the head saturates: a long tail)
    taste_concentration: float = 0.3  # Dirichlet concentration of user tastes over clusters (small: focused)
    explore: float = 0.3  # share of picks made by global popularity rather than taste
    tag_rate: float = 0.02  # tags per rating

    def __post_init__(self) -> None:
        if min(self.n_users, self.n_movies, self.n_ratings) < 1:
            raise ValueError("n_users, n_movies and n_ratings must be positive")
        if self.n_ratings > self.n_users * self.n_movies // 2:
            raise ValueError("n_ratings must be at most half of n_users * n_movies")


def generate(cfg: SyntheticConfig, out_dir: str | Path) -> dict[str, int]:
    """Write ``ratings.csv``, ``movies.csv``, ``tags.csv`` and ``README.txt`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    steps = tqdm(total=5, desc="synthetic", unit="step", disable=None)  # terminals only

    centres = rng.normal(size=(cfg.n_clusters, cfg.latent_dim)).astype(np.float32)
    movies = _movies(cfg, rng, centres)
    steps.update()
    users = _users(cfg, rng, centres)
    counts = _activity(cfg, rng)
    user, item = _pick_movies(cfg, rng, counts, users["pref"], movies)
    steps.update()
    rating = _ratings(cfg, rng, user, item, users, movies)
    ts = _timestamps(cfg, rng, user, movies["year"][item])
    steps.update()

    order = np.lexsort((item, user))
    user, item, rating, ts = user[order], item[order], rating[order], ts[order]
    _write_ratings(out_dir / "ratings.csv", user + 1, movies["id"][item], rating, ts)
    _write_movies(out_dir / "movies.csv", movies)
    steps.update()
    n_tags = _write_tags(out_dir / "tags.csv", cfg, rng, user, item, ts, movies)
    (out_dir / "README.txt").write_text(
        "Synthetic MovieLens-shaped data made by movierec.data.synthetic with:\n"
        + "".join(f"  {k} = {v}\n" for k, v in asdict(cfg).items())
    )
    steps.update()
    steps.close()
    return {"n_ratings": int(len(user)), "n_users": int(len(np.unique(user))), "n_tags": n_tags}


def _movies(cfg: SyntheticConfig, rng: np.random.Generator, centres: np.ndarray) -> dict[str, np.ndarray]:
    n = cfg.n_movies
    cluster = rng.integers(0, cfg.n_clusters, n)
    rank = rng.permutation(n) + 1
    popularity = rank.astype(np.float64) ** -cfg.popularity_exponent
    latent = centres[cluster] + 0.5 * rng.normal(size=(n, cfg.latent_dim)).astype(np.float32)
    primary = [rng.choice(len(GENRES), size=rng.integers(1, 3), replace=False) for _ in range(cfg.n_clusters)]
    extra = np.where(rng.random(n) < 0.35, rng.integers(0, len(GENRES), n), -1)
    genres = []
    for j in range(n):
        g = set(primary[cluster[j]].tolist())
        if extra[j] >= 0:
            g.add(int(extra[j]))
        genres.append("|".join(GENRES[k] for k in sorted(g)))
    year = np.clip(2019 - np.floor(rng.exponential(16.0, n)), 1915, 2019).astype(np.int32)
    year[rng.random(n) < 0.005] = 0  # a few titles carry no year, as in MovieLens
    ids = np.sort(rng.choice(np.arange(1, 4 * n + 1), size=n, replace=False))
    titles = []
    for j in range(n):
        base = f"{_ADJ[rng.integers(len(_ADJ))]} {_NOUN[rng.integers(len(_NOUN))]} {j + 1}"
        if rng.random() < 0.1:  # MovieLens moves a leading article to the end, after a comma
            base = f"{base}, The"
        titles.append(f"{base} ({year[j]})" if year[j] else base)
    return {
        "id": ids, "cluster": cluster, "popularity": popularity, "latent": latent, "genres": np.array(genres),
        "title": np.array(titles), "year": year, "bias": rng.normal(0, 0.35, n).astype(np.float32),
    }  # fmt: skip


def _users(cfg: SyntheticConfig, rng: np.random.Generator, centres: np.ndarray) -> dict[str, np.ndarray]:
    pref = rng.dirichlet(np.full(cfg.n_clusters, cfg.taste_concentration), size=cfg.n_users)
    latent = (pref @ centres + 0.3 * rng.normal(size=(cfg.n_users, cfg.latent_dim))).astype(np.float32)
    return {"pref": pref, "latent": latent, "bias": rng.normal(0, 0.45, cfg.n_users).astype(np.float32)}


def _activity(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: a floor plus a log-normal tail, summing exactly to ``n_ratings``."""
    floor = min(cfg.min_user_ratings, cfg.n_ratings // cfg.n_users)
    cap = max(floor + 1, cfg.n_movies // 2)
    extra_total = cfg.n_ratings - floor * cfg.n_users
    weights = rng.lognormal(0.0, 1.4, cfg.n_users)  # ml-25m: median 71, mean 154, max 32k per user
    extra = np.zeros(cfg.n_users)
    free = np.ones(cfg.n_users, dtype=bool)
    remaining = float(extra_total)
    for _ in range(50):  # water-filling: users at the cap pass their share on
        share = weights * free
        extra[free] += remaining * share[free] / share.sum()
        over = extra > cap - floor
        remaining = float((extra[over] - (cap - floor)).sum())
        extra[over] = cap - floor
        free &= ~over
        if remaining < 1 or not free.any():
            break
    counts = floor + np.floor(extra).astype(np.int64)
    short = cfg.n_ratings - counts.sum()
    if short > 0:  # largest remainders first, among users below the cap
        frac = np.where(counts < cap, extra - np.floor(extra), -1.0)
        counts[np.argsort(-frac, kind="stable")[:short]] += 1
    return counts


def _pick_movies(
    cfg: SyntheticConfig, rng: np.random.Generator, counts: np.ndarray, pref: np.ndarray, movies: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Draw distinct movies per user until each user has exactly ``counts[user]`` of them.

    The popular head saturates (a movie can be rated once per user), so repeated draws from the same law
    mostly hit movies a user already has. Each round therefore flattens the popularity law a little
    (``popularity ** temperature``, temperature falling to 0) and the last rounds draw uniformly: every
    round is vectorised over all users and the loop ends in a handful of rounds even at ml-25m size.
    """
    n_movies = cfg.n_movies
    cum_pref = np.cumsum(pref, axis=1)
    by_cluster = [np.flatnonzero(movies["cluster"] == k) for k in range(cfg.n_clusters)]
    users = np.empty(0, np.int64)
    items = np.empty(0, np.int64)
    need = counts.copy()
    weighted_rounds = 12
    for round_ in range(200):
        temperature = max(0.0, 1.0 - round_ / weighted_rounds)
        want = np.ceil(need * (1.15 + 0.5 * round_)).astype(np.int64) + (need > 0)
        u = np.repeat(np.arange(cfg.n_users), want)
        if temperature > 0:
            m = _draw_by_taste(cfg, rng, u, cum_pref, by_cluster, movies["popularity"] ** temperature)
        else:
            m = rng.integers(0, n_movies, len(u))
        users = np.concatenate([users, u])
        items = np.concatenate([items, m])
        # keep the first draw of each (user, movie), then at most counts[user] per user, in draw order
        _, first = np.unique(users * n_movies + items, return_index=True)
        first.sort()
        users, items = users[first], items[first]
        by_user = np.argsort(users, kind="stable")  # grouped by user, draw order kept within a user
        users, items = users[by_user], items[by_user]
        rank = np.arange(len(users)) - np.searchsorted(users, users, side="left")
        keep = rank < counts[users]
        users, items = users[keep], items[keep]
        need = counts - np.bincount(users, minlength=cfg.n_users)
        if not need.any():
            break
    return users, items


def _draw_by_taste(cfg, rng, u, cum_pref, by_cluster, weight) -> np.ndarray:
    """One movie per entry of ``u``: from a preferred cluster by ``weight``, or (``explore``) from all."""
    global_cdf = np.cumsum(weight)
    m = np.empty(len(u), np.int64)
    explore = rng.random(len(u)) < cfg.explore
    m[explore] = np.searchsorted(global_cdf, rng.random(explore.sum()) * global_cdf[-1])
    idx = np.flatnonzero(~explore)
    for start in range(0, len(idx), 2_000_000):  # bounded memory: (chunk, n_clusters) booleans
        part = idx[start : start + 2_000_000]
        cl = np.minimum((cum_pref[u[part]] < rng.random(len(part))[:, None]).sum(1), cfg.n_clusters - 1)
        for k in np.unique(cl):
            sel = part[cl == k]
            members = by_cluster[k]
            if len(members) == 0:
                m[sel] = np.searchsorted(global_cdf, rng.random(len(sel)) * global_cdf[-1])
            else:
                cdf = np.cumsum(weight[members])
                m[sel] = members[np.searchsorted(cdf, rng.random(len(sel)) * cdf[-1])]
    return np.minimum(m, cfg.n_movies - 1)


def _ratings(cfg, rng, user, item, users, movies) -> np.ndarray:
    score = np.empty(len(user), np.float32)
    scale = 1.0 / np.sqrt(cfg.latent_dim)
    for s in range(0, len(user), 2_000_000):
        u, m = user[s : s + 2_000_000], item[s : s + 2_000_000]
        affinity = np.einsum("ij,ij->i", users["latent"][u], movies["latent"][m]) * scale
        score[s : s + len(u)] = users["bias"][u] + movies["bias"][m] + affinity
    score += rng.normal(0, 0.5, len(score)).astype(np.float32)
    shares = RATING_SHARES / RATING_SHARES.sum()
    cuts = np.quantile(score, np.cumsum(shares)[:-1])
    return ((np.searchsorted(cuts, score) + 1) * 0.5).astype(np.float32)


def _timestamps(cfg, rng, user, year) -> np.ndarray:
    start = rng.integers(_T_START, _T_END - 86_400, cfg.n_users)
    # many MovieLens users rate everything in one sitting; others return over months or years
    span = np.where(rng.random(cfg.n_users) < 0.3, 3_600.0, rng.exponential(200 * 86_400.0, cfg.n_users))
    ts = start[user] + (rng.random(len(user)) * span[user]).astype(np.int64)
    release = ((year.astype(np.int64) - 1970) * 365.25 * 86_400).astype(np.int64)
    ts = np.maximum(ts, release + rng.integers(0, 86_400 * 300, len(user)))
    return np.minimum(ts, _T_END)


def _write_ratings(path: Path, user_id, movie_id, rating, ts) -> None:
    table = pa.table(
        {
            "userId": pa.array(user_id, pa.int32()),
            "movieId": pa.array(movie_id, pa.int32()),
            "rating": pa.array(rating, pa.float32()),
            "timestamp": pa.array(ts, pa.int64()),
        }
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(b"userId,movieId,rating,timestamp\n")
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, batch_size=1 << 16))


def _write_movies(path: Path, movies: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["movieId", "title", "genres"])
        w.writerows(zip(movies["id"].tolist(), movies["title"].tolist(), movies["genres"].tolist()))


def _write_tags(path, cfg, rng, user, item, ts, movies) -> int:
    pick = np.flatnonzero(rng.random(len(user)) < cfg.tag_rate)
    cluster_words = [f"theme-{k}" for k in range(cfg.n_clusters)]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["userId", "movieId", "tag", "timestamp"])
        generic = rng.random(len(pick)) < 0.4
        words = rng.integers(0, len(_TAG_WORDS), len(pick))
        for r, g, wd in zip(pick.tolist(), generic.tolist(), words.tolist()):
            tag = _TAG_WORDS[wd] if g else cluster_words[movies["cluster"][item[r]]]
            w.writerow([int(user[r]) + 1, int(movies["id"][item[r]]), tag, int(ts[r])])
    return int(len(pick))
