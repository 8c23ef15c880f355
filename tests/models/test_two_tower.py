"""Shapes, checkpoints, the cosine option, and that the model can overfit a tiny dataset."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from movierec.models.config import TwoTowerConfig
from tests.models.test_losses import softmax
from movierec.models.two_tower import (
    TwoTower,
    load_checkpoint,
    movie_content,
    save_checkpoint,
    taste_part,
    year_bucket,
)

N_USERS, N_MOVIES = 6, 18


def features(n=N_MOVIES):
    return pd.DataFrame({
        "movie_idx": np.arange(n), "popularity": np.linspace(0, 3, n).astype(np.float32),
        "year": pd.array([1995 + i if i % 5 else None for i in range(n)], dtype="Int16"),
        "genre_Action": np.arange(n) % 2, "genre_Drama": (np.arange(n) + 1) % 2,
        "tag_ids": [[i % 3] if i % 2 else [] for i in range(n)],
    })  # fmt: skip


def make_model(**kw):
    """A small model, every setting that differs from the shipped defaults said here (plain dot vectors unless
    a test asks for the item bias)."""
    base = {"embedding_dim": 16, "hidden_dims": (32,), "dropout": 0.0, "item_bias": False, "popularity_discount": 0.0}
    cfg = TwoTowerConfig(n_users=N_USERS, n_movies=N_MOVIES, n_genres=2, n_tags=3, tags_per_movie=1, **{**base, **kw})
    return TwoTower(cfg, movie_content(features(), cfg))


def test_year_bucket():
    assert year_bucket(np.array([np.nan, 1850, 1900, 1997, 2030]), 24).tolist() == [0, 1, 1, 20, 23]


def test_shapes_and_history_only_user():
    torch.manual_seed(0)
    model = make_model().eval()
    assert model.movie_vectors().shape == (N_MOVIES, 16)
    items = torch.tensor([[0, 1, 2], [3, 0, 0]])
    ratings = torch.tensor([[5.0, 4.0, 1.0], [3.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    users = model.user_vectors(items, ratings, mask)
    assert users.shape == (2, 16)
    # masked entries do not matter, whatever they hold
    other = model.user_vectors(torch.tensor([[0, 1, 2], [3, 9, 17]]), ratings, mask)
    assert torch.allclose(users, other)
    assert model.score(users, model.movie_vectors()).shape == (2, N_MOVIES)


def test_cosine_vectors_rank_like_cosine_over_temperature():
    model = make_model(similarity="cosine", temperature=0.25).eval()
    v = model.movie_vectors()
    assert torch.allclose(v.norm(dim=1), torch.full((N_MOVIES,), 2.0), atol=1e-5)  # 1 / sqrt(0.25)
    with pytest.raises(ValueError):
        make_model(similarity="euclid")


def test_user_id_vectors_only_for_known_users():
    model = make_model(use_user_id=True).eval()
    items, ratings, mask = torch.tensor([[1, 2]]), torch.tensor([[4.0, 2.0]]), torch.ones(1, 2, dtype=torch.bool)
    anon = model.user_vectors(items, ratings, mask, torch.tensor([-1]))
    known = model.user_vectors(items, ratings, mask, torch.tensor([3]))
    assert not torch.allclose(anon, known)
    assert torch.allclose(anon, model.user_vectors(items, ratings, mask, None))


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model = make_model().eval()
    save_checkpoint(tmp_path / "m.pt", model, {"epoch": 3})
    loaded, ckpt = load_checkpoint(tmp_path / "m.pt")
    assert ckpt["epoch"] == 3 and loaded.cfg == model.cfg
    assert torch.equal(loaded.movie_vectors(), model.movie_vectors())
    mapped, _ = load_checkpoint(tmp_path / "m.pt", mmap=True)  # the server's way: tensors are file pages
    assert mapped.movie_id.weight.device.type == "cpu" and not mapped.training
    assert all(t.data_ptr() % 64 == 0 for t in mapped.state_dict().values() if t.numel())  # aligned records
    assert torch.equal(mapped.movie_vectors(), model.movie_vectors())
    assert torch.equal(mapped.history_table(), model.history_table())


def test_overfits_a_tiny_dataset():
    """Six users, three movies each; every training row asks for one movie from the other two. After
    training, each row's answer is the best-scored movie outside its history: the data are memorised."""
    torch.manual_seed(0)
    model = make_model(id_dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    liked = np.arange(N_MOVIES).reshape(N_USERS, 3)
    rows = [(u, j) for u in range(N_USERS) for j in range(3)]
    items = torch.tensor([[liked[u][k] for k in range(3) if k != j] for u, j in rows])
    target = torch.tensor([liked[u][j] for u, j in rows])
    ratings, mask = torch.full(items.shape, 5.0), torch.ones_like(items, dtype=torch.bool)
    first = None
    for _ in range(150):
        loss = softmax(model.user_vectors(items, ratings, mask), model.movie_vectors(torch.unique(target)),
                       torch.arange(len(rows)), target)  # fmt: skip
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.01 * first
    model.eval()
    scores = model.score(model.user_vectors(items, ratings, mask), model.movie_vectors())
    scores[torch.arange(len(rows)).unsqueeze(1), items] = float("-inf")  # history is never recommended
    assert torch.equal(scores.argmax(1), target)


def test_same_weights_same_checkpoint_bytes(tmp_path):
    """dvc.lock records the checkpoint's hash: identical weights must give identical files, even when saved
    by two different processes."""
    code = (
        "import sys, torch; sys.path.insert(0, '.'); torch.manual_seed(0);"
        "from tests.models.test_two_tower import make_model; from movierec.models.two_tower import save_checkpoint;"
        "save_checkpoint(sys.argv[1], make_model())"
    )
    root = Path(__file__).resolve().parents[2]
    for name in ("a.pt", "b.pt"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], cwd=root, check=True)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded, _ = load_checkpoint(tmp_path / "a.pt")
    assert loaded.cfg.embedding_dim == 16


def test_item_bias_is_the_last_entry_and_adds_to_the_score():
    torch.manual_seed(0)
    model = make_model(item_bias=True).eval()
    assert model.cfg.vector_dim == 17
    movies = model.movie_vectors().detach()
    items, ratings, mask = torch.tensor([[1, 2]]), torch.tensor([[4.0, 2.0]]), torch.ones(1, 2, dtype=torch.bool)
    users = model.user_vectors(items, ratings, mask).detach()
    assert movies.shape == (N_MOVIES, 17) and users.shape == (1, 17)
    assert torch.all(users[:, -1] == 1.0)
    taste = users[:, :-1] @ movies[:, :-1].T
    assert torch.allclose(model.score(users, movies), taste + movies[:, -1], atol=1e-5)
    assert taste_part(movies.numpy(), model.cfg).shape == (N_MOVIES, 16)
    assert taste_part(movies.numpy(), make_model().cfg).shape == (N_MOVIES, 17)  # no bias: unchanged
    with pytest.raises(ValueError, match="item_bias needs similarity=dot"):
        make_model(item_bias=True, similarity="cosine")


def test_popularity_discount_lowers_popular_biases_when_ranking_only():
    torch.manual_seed(0)
    plain = make_model(item_bias=True)
    discounted = make_model(item_bias=True, popularity_discount=0.5)
    discounted.load_state_dict(plain.state_dict())
    plain.eval()
    discounted.eval()
    a, b = plain.movie_vectors().detach(), discounted.movie_vectors().detach()
    assert torch.equal(a[:, :-1], b[:, :-1])  # the taste part is untouched
    # scaled log popularity runs 0..1 over the catalogue here: the least rated keeps its bias, the most
    # rated loses the whole discount
    pop = discounted.content_popularity
    assert torch.allclose(a[:, -1] - b[:, -1], 0.5 * pop, atol=1e-6)
    assert float(pop.min()) == 0.0 and float(pop.max()) == 1.0
    # training learns the bias undiscounted (no id dropout, so both draw the same vectors)
    p2 = make_model(item_bias=True, id_dropout=0.0)
    d2 = make_model(item_bias=True, popularity_discount=0.5, id_dropout=0.0)
    d2.load_state_dict(p2.state_dict())  # both are built in training mode
    assert torch.equal(p2.movie_vectors(), d2.movie_vectors())
    with pytest.raises(ValueError, match="popularity_discount needs item_bias"):
        make_model(popularity_discount=0.5)
    with pytest.raises(ValueError, match="0 or more"):
        make_model(item_bias=True, popularity_discount=-1.0)


def test_rank_history_sets_what_ranking_pools():
    from movierec.evaluation.protocol import TwoTowerScorer
    from movierec.models.embeddings import user_vectors
    from movierec.training.data import RatingLists

    torch.manual_seed(0)
    lists = RatingLists(np.array([0, 6, 8]), np.array([0, 3, 5, 7, 9, 11, 2, 4]),
                        np.array([5.0, 1.0, 4.0, 2.0, 3.0, 5.0, 4.0, 1.0], dtype=np.float32))  # fmt: skip
    users = np.array([0, 1])
    whole = make_model()  # rank_history 0: every rating
    last2 = make_model(rank_history=2)
    last2.load_state_dict(whole.state_dict())
    assert torch.equal(TwoTowerScorer(whole)(users, lists), TwoTowerScorer(whole, 100)(users, lists))
    assert torch.equal(TwoTowerScorer(last2)(users, lists), TwoTowerScorer(whole, 2)(users, lists))
    assert not torch.equal(TwoTowerScorer(whole)(users, lists), TwoTowerScorer(whole, 2)(users, lists))
    # the exported vectors pool the same ratings as the scorer
    u = torch.from_numpy(user_vectors(last2, lists))
    assert torch.allclose(last2.score(u[:2], last2.movie_vectors()), TwoTowerScorer(last2)(users, lists), atol=1e-6)
    with pytest.raises(ValueError, match="rank_history"):
        make_model(rank_history=-1)
    with pytest.raises(ValueError, match="max_history"):
        make_model(max_history=0)


@pytest.mark.parametrize("kw", [{}, {"similarity": "cosine"}, {"use_user_id": True}])
def test_leave_one_out_is_the_vector_of_the_shorter_history(kw):
    torch.manual_seed(0)
    model = make_model(**kw).eval()
    items = torch.tensor([3, 7, 1, 9, 4, 0])
    stars = torch.tensor([5.0, 1.0, 4.0, 2.5, 3.0, 4.5])
    n = len(items)
    keep = ~torch.eye(n, dtype=torch.bool)
    who = torch.full((n,), 2)
    with torch.no_grad():
        slow = model.user_vectors(items.expand(n, n), stars.expand(n, n), keep, user_idx=who)
        fast = model.leave_one_out(items, stars, user_idx=2)
        some = model.leave_one_out(items, stars, model.history_table(), rows=torch.tensor([4, 1]), user_idx=2)
        alone = model.leave_one_out(items[:1], stars[:1])
        empty = model.user_vectors(items[:1][None], stars[:1][None], torch.zeros(1, 1, dtype=torch.bool))
    assert torch.allclose(fast, slow, atol=1e-5)
    assert torch.allclose(some, slow[[4, 1]], atol=1e-5)
    assert torch.allclose(alone, empty, atol=1e-6)  # a one-rating history without its rating: no history at all


def test_genome_is_read_and_kept_in_half_precision(tmp_path):
    genome = np.random.default_rng(0).random((N_MOVIES, 4)).astype(np.float32)
    cfg = TwoTowerConfig(n_users=N_USERS, n_movies=N_MOVIES, n_genres=2, n_tags=3, tags_per_movie=1, n_genome=4,
                         embedding_dim=16, hidden_dims=(32,), dropout=0.0)  # fmt: skip
    model = TwoTower(cfg, movie_content(features(), cfg, genome)).eval()
    assert model.content_genome.dtype == torch.float16
    assert np.allclose(model.content_genome.float().numpy(), genome, atol=1e-3)
    flipped = TwoTower(cfg, movie_content(features(), cfg, 1 - genome)).eval()
    flipped.load_state_dict({**model.state_dict(), "content_genome": flipped.content_genome})
    assert not torch.allclose(model.movie_vectors(), flipped.movie_vectors())  # the movie tower reads it
    save_checkpoint(tmp_path / "g.pt", model, {})
    mapped, _ = load_checkpoint(tmp_path / "g.pt", mmap=True)
    assert mapped.content_genome.dtype == torch.float16
    assert torch.equal(mapped.movie_vectors(), model.movie_vectors())
