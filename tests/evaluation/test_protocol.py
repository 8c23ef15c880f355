"""The shared protocol: exclusions, baselines, segments and cold start on tiny data."""

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from movierec.evaluation.baselines import EASEScorer, PopularityScorer, ease_weights
from movierec.errors import MovieRecError
from movierec.evaluation.protocol import (
    cold_start_ndcg,
    evaluate_scorer,
    relevant_movies,
    sample_known,
    segment_metrics,
    top_k,
)
from movierec.training.data import RatingLists

N_MOVIES = 6


def known():
    df = pd.DataFrame({"user_idx": [0, 0, 1, 1, 1, 2], "movie_idx": [0, 1, 0, 2, 3, 0],
                       "rating": [4.0] * 6, "timestamp": range(6)})  # fmt: skip
    return RatingLists.from_frame(df, 3)


class Fixed:
    """Scores movie j as j for everyone: the ranking is 5, 4, 3, ..."""

    name = "fixed"

    def __call__(self, users, known):
        return np.tile(np.arange(N_MOVIES, dtype=np.float32), (len(users), 1))


def test_top_k_never_returns_known_movies():
    top = top_k(Fixed(), np.array([0, 1, 2]), known(), known(), 3)
    assert top.tolist() == [[5, 4, 3], [5, 4, 1], [5, 4, 3]]


def test_relevant_movies_and_perfect_scores():
    held = pd.DataFrame({"user_idx": [0, 0, 1, 2], "movie_idx": [5, 2, 4, 1], "rating": [5.0, 3.5, 4.0, 2.0]})
    rel = relevant_movies(held, 4.0)
    assert {u: v.tolist() for u, v in rel.items()} == {0: [5], 1: [4]}  # user 2 has nothing relevant: skipped
    metrics, users, _ = evaluate_scorer(Fixed(), known(), rel, [1, 2], N_MOVIES)
    assert users.tolist() == [0, 1]
    assert metrics["ndcg@2"] == pytest.approx((1 + 1 / np.log2(3)) / 2) and metrics["hit_rate@2"] == 1.0


def test_popularity():
    pop = PopularityScorer(known(), N_MOVIES)
    assert pop(np.array([0]), known())[0].tolist() == [3, 1, 1, 1, 0, 0]


def test_ease_closed_form_matches_numpy():
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1], [1, 0, 0]], dtype=np.float32))
    lam = 2.0
    g = (x.T @ x).toarray() + lam * np.eye(3)
    p = np.linalg.inv(g)
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0)
    b = ease_weights(x, lam)
    assert b == pytest.approx(expected, abs=1e-6)
    # row-major, as the user x item products read it (LAPACK's inverse comes back column-major); the matrix is
    # not symmetric, so a transposed copy would fail the comparison above
    assert b.flags["C_CONTIGUOUS"] and not np.allclose(b, b.T)


def test_ease_scorer_limits_its_catalogue():
    ease = EASEScorer(known(), N_MOVIES, lam=1.0, max_items=2)
    assert ease.items.tolist() == [0, 1]  # the two most rated movies
    scores = ease(np.array([0, 1]), known())
    assert np.isinf(scores[:, 2:]).all() and np.isfinite(scores[:, :2]).all()


def test_ease_weights_saved_once_read_back_the_same_and_checked(tmp_path):
    """The `ease` stage fits once; `rank` and `evaluate` read the files and score exactly as the fitted model,
    and refuse weights of other data or settings with an error that says to rerun the stage."""
    ease = EASEScorer(known(), N_MOVIES, lam=1.0, max_items=3)
    ease.save(tmp_path / "ease")
    back = EASEScorer.load(tmp_path / "ease", N_MOVIES, lam=1.0, max_items=3)
    users = np.array([0, 1, 2])
    assert back.items.tolist() == ease.items.tolist() and back.lam == 1.0 and back.max_items == 3
    assert np.array_equal(back(users, known()).numpy(), ease(users, known()).numpy())
    assert back.b.numpy().flags["C_CONTIGUOUS"]
    for wrong, why in [(dict(n_movies=N_MOVIES + 1), "n_movies"), (dict(lam=2.0), "lambda 1.0 (expected 2.0)"),
                       (dict(max_items=20), "max_items")]:  # fmt: skip
        args = {"n_movies": N_MOVIES, **wrong}
        with pytest.raises(MovieRecError, match=rf"do not match.*{re.escape(why)}.*dvc repro ease"):
            EASEScorer.load(tmp_path / "ease", **args)
    (tmp_path / "ease" / "weights.npy").write_bytes(b"not an array")
    with pytest.raises(MovieRecError, match="cannot be read.*dvc repro ease"):
        EASEScorer.load(tmp_path / "ease", N_MOVIES)
    with pytest.raises(MovieRecError, match=r"no EASE weights.*missing weights.npy, items.npy, ease.json"):
        EASEScorer.load(tmp_path / "nowhere", N_MOVIES)


def test_segments_and_cold_start():
    rel = {0: np.array([5]), 1: np.array([4]), 2: np.array([2])}
    users = np.array([0, 1, 2])
    top = top_k(Fixed(), users, known(), known(), 10)
    movie_counts = np.array([50, 1, 1, 1, 1, 1])
    seg = segment_metrics(top, users, rel, np.array([2, 3, 1]), movie_counts, k=2)
    assert seg["users_light"]["n_users"] == 1 and seg["users_light"]["recall@2"] == 0.0  # user 2 wants movie 2
    assert seg["users_heavy"]["recall@2"] == 1.0
    assert "movies_tail" in seg and "movies_head" not in seg  # no relevant movie is in the head (movie 0)
    few = sample_known(known(), users, 1, np.random.default_rng(0))
    assert few.counts().tolist() == [1, 1, 1]
    for u in users:  # a user keeps a subset of their own ratings, in their order
        kept, own = few.items[few.indptr[u]:few.indptr[u + 1]], known().items[known().indptr[u]:known().indptr[u + 1]]
        assert set(kept) <= set(own) and kept.tolist() == [m for m in own if m in set(kept)]

    class Recording(Fixed):  # what the scorer is given: k ratings per user, not all of them
        seen: list = []

        def __call__(self, users, known):
            self.seen.append(known.counts()[users].tolist())
            return super().__call__(users, known)

    recording = Recording()
    cold = cold_start_ndcg(recording, known(), rel, [1, 2], N_MOVIES, seed=0)
    assert recording.seen == [[1, 1, 1], [2, 2, 1]]  # known: 2, 3 and 1 ratings
    assert set(cold) == {"ndcg@10_k1", "ndcg@10_k2"}
    assert cold["ndcg@10_k1"] == pytest.approx(np.mean([1.0, 1 / np.log2(3), 1 / np.log2(5)]))


def test_the_gram_matrix_is_exact_whatever_the_threads_and_blocks():
    from movierec.evaluation.baselines import gram

    x = sp.random(2000, 900, density=0.02, random_state=5, format="csr", dtype=np.float32)
    x.data[:] = 1.0
    expect = (x.T @ x).toarray()
    for threads, block in ((1, 2048), (2, 128), (3, 1)):
        got = gram(x, threads, block)
        assert got.dtype == np.float32 and (got == expect).all()
