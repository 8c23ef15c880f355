"""Export user and movie vectors, and check them: a 2-D map coloured by genre, nearest neighbours of
well-known titles."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from movierec.evaluation.similar import most_similar, unit_rows  # noqa: E402
from movierec.models.two_tower import TwoTower  # noqa: E402
from movierec.training.data import RatingLists, history_chunks  # noqa: E402

WELL_KNOWN = [
    "Toy Story (1995)", "Matrix, The (1999)", "Pulp Fiction (1994)", "Silence of the Lambs, The (1991)",
    "Star Wars: Episode IV - A New Hope (1977)", "Titanic (1997)", "Shawshank Redemption, The (1994)",
    "Notting Hill (1999)",
]  # fmt: skip


def movie_vectors(model: TwoTower) -> np.ndarray:
    """``(n_movies, dim)`` float32, in ``movie_idx`` order."""
    with torch.no_grad():
        return model.eval().movie_vectors().numpy().astype(np.float32)


def user_vectors(model: TwoTower, known: RatingLists, batch: int = 4096, users: np.ndarray | None = None) -> np.ndarray:
    """``(len(users), dim)`` float32 from each user's known ratings (the model's ``rank_history`` most recent;
    0: all), in the order of ``users`` (default: every user, in ``user_idx`` order), at most ``batch`` users at
    a time."""
    out = []
    model.eval()
    every = np.arange(known.n_users) if users is None else np.asarray(users, np.int64)
    with torch.no_grad():
        for users, items, ratings, mask in history_chunks(known, every, model.cfg.rank_history, max_users=batch):
            uid = torch.from_numpy(users) if model.cfg.use_user_id else None
            out.append(model.user_vectors(items, ratings, mask, uid).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.cfg.vector_dim), np.float32)


def nearest_neighbours(vectors: np.ndarray, movies: pd.DataFrame, titles: list[str], k: int = 10) -> dict:
    """For each title found (else the most rated movies), its ``k`` nearest movies by cosine similarity."""
    by_title = dict(zip(movies["title"], movies["movie_idx"]))
    queries = [by_title[t] for t in titles if t in by_title]
    if len(queries) < 3:
        queries = movies.sort_values("rating_count", ascending=False)["movie_idx"].head(6).tolist()
    unit = unit_rows(vectors)
    title = movies.set_index("movie_idx")["title"]
    return {title[q]: [{"title": title[i], "cosine": round(c, 4)} for i, c in most_similar(unit, q, k)] for q in queries}


def plot_projection(vectors: np.ndarray, movies: pd.DataFrame, path: Path, max_points: int = 3000) -> None:
    """PCA of the most rated ``max_points`` movies, coloured by their first genre."""
    top = movies.sort_values("rating_count", ascending=False).head(max_points)
    xy = PCA(n_components=2, random_state=0).fit_transform(vectors[top["movie_idx"].to_numpy()])
    first = top["genres"].map(lambda g: g[0] if len(g) else "(none)").to_numpy()
    fig, ax = plt.subplots(figsize=(9, 7))
    names = pd.Series(first).value_counts().index[:10]
    for name in names:
        sel = first == name
        ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.6, label=name)
    rest = ~np.isin(first, names)
    ax.scatter(xy[rest, 0], xy[rest, 1], s=4, alpha=0.3, color="lightgrey", label="other")
    ax.set(title=f"Movie vectors, PCA of the {len(top):,} most rated (colour: first genre)", xlabel="PC 1",
           ylabel="PC 2")  # fmt: skip
    ax.legend(markerscale=3, fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def map_2d(vectors: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """``(n, 2)``: a t-SNE map of the unit vectors (cosine neighbourhoods), or their PCA."""
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(unit_rows(vectors))
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(vectors) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(unit_rows(vectors))


def cosine_pairs(vectors: np.ndarray, labels: np.ndarray, n_pairs: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of ``n_pairs`` random pairs of distinct movies, and whether each pair shares its label."""
    unit = unit_rows(vectors)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(unit), n_pairs), rng.integers(0, len(unit), n_pairs)
    a, b = a[a != b], b[a != b]
    return np.einsum("ij,ij->i", unit[a], unit[b]), np.asarray(labels)[a] == np.asarray(labels)[b]


def genre_separation(vectors: np.ndarray, first_genres: np.ndarray, n_pairs: int = 20_000, seed: int = 0) -> dict:
    """How well the movie vectors separate genres, by each movie's first genre: the silhouette score (cosine;
    -1..1, above 0 when a movie sits nearer its own genre than the next one) and the mean cosine similarity of
    random pairs within a genre and across genres."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(first_genres)
    keep = np.isin(labels, [g for g, c in zip(*np.unique(labels, return_counts=True)) if c >= 2])
    unit, labels = unit_rows(vectors[keep]), labels[keep]
    cos, same = cosine_pairs(unit, labels, n_pairs, seed)
    score = silhouette_score(unit, labels, metric="cosine", random_state=seed) if len(set(labels)) > 1 else float("nan")
    return {"silhouette": float(score), "within": float(cos[same].mean()) if same.any() else float("nan"),
            "across": float(cos[~same].mean()) if (~same).any() else float("nan"), "movies": int(len(unit))}  # fmt: skip
