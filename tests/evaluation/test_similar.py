"""Item-to-item evaluation on hand-made examples whose answers are known."""

import numpy as np
import pytest

from movierec.evaluation.similar import (
    itemknn_similarity,
    liked,
    most_similar,
    neighbour_lists,
    popularity_similarity,
    similar_hit_rate,
    similar_report,
    unit_rows,
    vector_similarity,
)
from movierec.training.data import RatingLists


def lists(per_user: list[list[tuple[int, float]]]) -> RatingLists:
    indptr = np.concatenate([[0], np.cumsum([len(u) for u in per_user])])
    flat = [r for u in per_user for r in u]
    return RatingLists(indptr.astype(np.int64), np.array([m for m, _ in flat], np.int64),
                       np.array([r for _, r in flat], np.float32))  # fmt: skip


def test_most_similar_ranks_by_cosine_without_the_movie_itself():
    v = np.array([[1, 0], [10, 1], [0, 1], [1, 1], [2, 0]], np.float32)  # lengths differ: cosine ignores them
    unit = unit_rows(v)
    got = most_similar(unit, 0, 3)
    assert [j for j, _ in got] == [4, 1, 3]  # 4 is parallel (cosine 1), 1 nearly so, then 45 degrees
    assert got[0][1] == pytest.approx(1.0) and got[2][1] == pytest.approx(np.sqrt(0.5))
    assert len(most_similar(unit, 0, 10)) == 4  # never more than the other movies


def test_neighbour_lists_leave_out_the_movie_and_follow_the_scores():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    nb = neighbour_lists(vector_similarity(v, cosine=True), 4, 1, batch=3)
    assert nb[:, 0].tolist() == [1, 0, 3, 2]


def test_itemknn_is_the_cosine_of_the_movies_audiences():
    # movie 0 and 1 share both their raters; movie 2 shares one of three with movie 0
    train = lists([[(0, 5), (1, 4), (2, 3)], [(0, 4), (1, 5)], [(2, 5)], [(2, 4), (3, 1)]])
    sim = itemknn_similarity(train, 4)(np.array([0, 2]))
    assert sim[0, 1] == pytest.approx(1.0) and sim[0, 2] == pytest.approx(1 / np.sqrt(2 * 3))
    assert sim[1, 3] == pytest.approx(1 / np.sqrt(3 * 1)) and sim[0, 3] == 0


def test_the_hit_rate_is_the_share_of_liked_pairs_found_per_user_then_averaged():
    nb = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])  # movie -> its two nearest
    before = lists([[(0, 5)], [(3, 5), (2, 4)], []])
    after = {0: np.array([1, 3]), 1: np.array([0])}
    # user 0: pairs (0,1) hit, (0,3) miss -> 1/2; user 1: (3,0) hit, (2,0) hit -> 1
    assert similar_hit_rate(nb, before, after, k=2) == pytest.approx(0.75)
    assert similar_hit_rate(nb, before, after, k=1) == pytest.approx((0.5 + 1.0) / 2)
    assert similar_hit_rate(nb, before, {2: np.array([1])}, k=2) == 0.0  # no pair at all


def test_liked_keeps_each_users_ratings_at_or_above_the_threshold():
    out = liked(lists([[(0, 5), (1, 2)], [], [(2, 3.5), (3, 4)]]), 3.5)
    assert out.counts().tolist() == [1, 0, 2] and out.items.tolist() == [0, 2, 3]


def test_the_report_puts_the_model_beside_itemknn_and_popularity():
    rng = np.random.default_rng(0)
    known = lists([[(int(m), 5.0) for m in rng.choice(30, 8, replace=False)] for _ in range(40)])
    relevant = {u: rng.choice(30, 3, replace=False) for u in range(40)}
    out = similar_report(rng.normal(size=(30, 4)).astype(np.float32), known, relevant, 4.0, k=5)
    assert set(out) == {"two_tower", "itemknn", "popularity"}
    assert all(0 <= m["similar_hit@5"] <= 1 for m in out.values())
    # popularity names the same handful of movies for every movie (ties in the counts give a few more)
    assert out["popularity"]["distinct_neighbours"] < 0.5 < out["two_tower"]["distinct_neighbours"]
    counts = popularity_similarity(known, 30)(np.array([0]))[0]
    assert counts.sum() == 40 * 8
