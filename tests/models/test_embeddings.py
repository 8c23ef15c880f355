import numpy as np
import torch
import pandas as pd

from movierec.evaluation.plots import metric_at_k_table, plot_metric_at_k
from movierec.models.embeddings import movie_vectors, nearest_neighbours, plot_projection, user_vectors
from movierec.training.curves import plot_curves
from movierec.training.data import RatingLists
from tests.models.test_two_tower import N_MOVIES, N_USERS, make_model

MOVIES = pd.DataFrame({"movie_idx": range(4), "title": ["Heat (1995)", "Ronin (1998)", "Up (2009)", "Cars (2006)"],
                       "rating_count": [9, 5, 7, 1], "genres": [["Action"], ["Action"], ["Animation"], []]})  # fmt: skip


def test_nearest_neighbours_by_cosine():
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    nn = nearest_neighbours(vectors, MOVIES, ["Heat (1995)", "Up (2009)", "Cars (2006)", "Missing (2000)"], k=2)
    assert [n["title"] for n in nn["Heat (1995)"]] == ["Ronin (1998)", "Up (2009)"]
    assert nn["Heat (1995)"][0]["cosine"] > 0.99
    fallback = nearest_neighbours(vectors, MOVIES, ["Missing (2000)"], k=1)  # unknown titles: most rated instead
    assert list(fallback)[0] == "Heat (1995)" and len(fallback) == 4


def test_vectors_and_pictures(tmp_path):
    model = make_model().eval()
    mv = movie_vectors(model)
    assert mv.shape == (N_MOVIES, 16) and mv.dtype == np.float32
    lists = RatingLists(np.array([0, 2, 3] + [3] * (N_USERS - 2)), np.array([1, 2, 5]), np.array([5.0, 3.0, 4.0]))
    uv = user_vectors(model, lists, batch=2)
    assert uv.shape == (N_USERS, 16)
    with torch.no_grad():  # user 0 rated movies 1 and 2 (5 and 3 stars): the user tower on exactly that
        direct = model.user_vectors(torch.tensor([[1, 2]]), torch.tensor([[5.0, 3.0]]), torch.ones(1, 2, dtype=torch.bool))
    assert np.allclose(uv[0], direct[0].numpy(), atol=1e-5)
    assert np.allclose(uv[2], uv[3]) and not np.allclose(uv[0], uv[1])  # users with no ratings look alike
    movies = pd.DataFrame({"movie_idx": range(N_MOVIES), "title": [f"M{i}" for i in range(N_MOVIES)],
                           "rating_count": range(N_MOVIES), "genres": [["A"] if i % 2 else ["B"] for i in range(N_MOVIES)]})  # noqa: E501
    plot_projection(mv, movies, tmp_path / "p.png")
    history = pd.DataFrame({"epoch": [1, 2], "loss": [2.0, 1.5], "val_ndcg@10": [0.1, 0.2], "val_recall@10": [0.1, 0.3],
                            "kept": [False, True]})
    plot_curves(history, tmp_path / "c.png")
    metrics = {f"{m}@{k}": 0.1 * k for m in ["recall", "precision", "ndcg", "hit_rate", "map", "coverage"] for k in (5, 10)}
    assert metric_at_k_table(metrics, [5, 10])["ndcg"].tolist() == [0.5, 1.0]
    plot_metric_at_k({"a": metrics, "b": metrics}, [5, 10], tmp_path / "m.png")
    import matplotlib.image

    for name in ["p.png", "c.png", "m.png"]:
        img = matplotlib.image.imread(tmp_path / name)
        colours = np.unique(img.reshape(-1, img.shape[-1]), axis=0)
        assert img.shape[0] > 200 and len(colours) > 50, name  # something is drawn, not a blank canvas


def test_genre_separation_tells_apart_vectors_that_cluster_by_genre_from_ones_that_do_not():
    from movierec.models.embeddings import genre_separation, map_2d

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 5
    labels = np.repeat(["Comedy", "Drama", "Horror"], 40)
    clustered = centres[np.repeat([0, 1, 2], 40)] + rng.normal(size=(120, 8))
    mixed = rng.normal(size=(120, 8))
    good, bad = genre_separation(clustered, labels), genre_separation(mixed, labels)
    assert good["silhouette"] > 0.3 > abs(bad["silhouette"]) and good["within"] > good["across"]
    assert abs(bad["within"] - bad["across"]) < 0.05 and good["movies"] == 120
    assert map_2d(clustered, "pca").shape == (120, 2) and map_2d(clustered[:30], "tsne").shape == (30, 2)
