"""Item-to-item evaluation on hand-made examples whose answers are known."""

import numpy as np
import pytest
import scipy.sparse as sp

from movierec.evaluation.similar import (
    blend_neighbours,
    blend_similarity,
    chance_hit_rate,
    choose_similar_weight,
    itemknn_similarity,
    liked,
    most_rated,
    most_similar,
    neighbour_lists,
    popularity_similarity,
    row_scaled,
    series_groups,
    series_share,
    similar_figures,
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
    taste = rng.normal(size=(30, 4)).astype(np.float32)
    assert set(similar_report(taste, known, relevant, 4.0, k=5)) == {"two_tower", "itemknn", "popularity"}
    titles = [f"Title{i:02d} (2000)" for i in range(28)] + ["Saga (1990)", "Saga 2 (1992)"]
    out = similar_report(taste, known, relevant, 4.0, k=5, served=vector_similarity(taste, True), titles=titles)
    assert set(out) == {"served", "two_tower", "itemknn", "popularity"} and out["served"] == out["two_tower"]
    assert out["served"]["series_movies"] == 2
    assert all(0 <= m["similar_hit@5"] <= 1 for m in out.values())
    # popularity names the same handful of movies for every movie (ties in the counts give a few more)
    assert out["popularity"]["distinct_neighbours"] < 0.5 < out["two_tower"]["distinct_neighbours"]
    counts = popularity_similarity(known, 30)(np.array([0]))[0]
    assert counts.sum() == 40 * 8
    assert similar_report(taste, known, relevant, 4.0, k=5, anchors=30) == similar_report(taste, known, relevant, 4.0, k=5)


def test_the_report_can_judge_the_most_rated_movies_alone():
    """At full size every ranking's lists for the whole catalogue cost minutes: with ``anchors`` only the most
    rated movies get lists, and only the pairs that start at one of them count."""
    rng = np.random.default_rng(2)
    known = lists([[(int(m), 5.0) for m in rng.choice(30, 8, replace=False, p=np.arange(30, 0, -1) / 465)]
                   for _ in range(60)])  # fmt: skip
    relevant = {u: rng.choice(30, 3, replace=False) for u in range(60)}
    taste = rng.normal(size=(30, 4)).astype(np.float32)
    rows = most_rated(known, 30, 10)
    assert len(rows) == 10 and (np.diff(rows) > 0).all()
    counts = np.bincount(known.items, minlength=30)
    assert counts[rows].min() >= np.delete(counts, rows).max()
    nb = neighbour_lists(vector_similarity(taste, True), 30, 5, anchors=rows)
    assert (nb[rows] >= 0).all() and (np.delete(nb, rows, axis=0) == -1).all()
    assert (nb[rows] == neighbour_lists(vector_similarity(taste, True), 30, 5)[rows]).all()
    before = liked(known, 4.0, rows)
    assert np.isin(before.items, rows).all() and before.counts().sum() == np.isin(known.items, rows).sum()
    out = similar_report(taste, known, relevant, 4.0, k=5, anchors=10)
    assert out["two_tower"] == similar_figures(nb, before, relevant, 5)
    titles = [f"Title{i:02d} (2000)" for i in range(30)]
    titles[rows[0]], titles[rows[1]] = "Saga (1990)", "Saga 2 (1992)"
    outside = np.delete(np.arange(30), rows)[0]
    titles[outside] = "Saga 3 (1994)"  # a film of the series without a list of its own: not judged
    out = similar_report(taste, known, relevant, 4.0, k=5, titles=titles, anchors=10)
    assert out["two_tower"]["series_movies"] == 2


def test_chance_is_the_hit_rate_of_lists_that_ignore_their_movie():
    """Popularity (the same list for every movie) hits as often with the users' held-out movies shuffled as
    without: its excess is about 0, however high its hit rate; a list that follows its movie keeps a margin."""
    rng = np.random.default_rng(1)
    n, users = 40, 300
    before_rows, after = [], {}
    for u in range(users):  # two tastes: movies 0-19 and 20-39, each user's liked movies all from one
        side = 20 * (u % 2)
        picks = rng.choice(20, 6, replace=False) + side
        before_rows.append([(int(m), 5.0) for m in picks[:3]])
        after[u] = np.concatenate([picks[3:], [39]])  # movie 39: liked by everyone (popular)
    before = lists(before_rows)
    same_side = np.array([[j for j in range(n) if j != i and (j < 20) == (i < 20)][:5] for i in range(n)])
    popular = np.tile([39, 38, 37, 36, 35], (n, 1))
    fit, pop = similar_figures(same_side, before, after, k=5), similar_figures(popular, before, after, k=5)
    assert pop["similar_hit@5"] > 0 and abs(pop["similar_excess@5"]) < 0.02
    assert fit["similar_excess@5"] > 0.05 > pop["similar_excess@5"]
    assert fit["similar_hit@5"] - fit["similar_chance@5"] == pytest.approx(fit["similar_excess@5"])
    assert chance_hit_rate(same_side, before, after, k=5, seed=3) == chance_hit_rate(same_side, before, after, k=5, seed=3)


def test_the_blend_adds_scaled_item_to_item_weights_to_the_cosine():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.6, 0.8]], np.float32)
    ii = sp.csr_matrix(np.array([[0, 0, 4, 2], [0, 0, 0, 0], [1, 0, 0, -3], [0, 0, 0, 0]], np.float32))
    scaled = row_scaled(ii)
    assert scaled.toarray()[0].tolist() == [0, 0, 1, 0.5] and scaled.toarray()[2].tolist() == pytest.approx([1 / 3, 0, 0, -1])
    assert [j for j, _ in most_similar(unit_rows(v), 0, 3)] == [1, 3, 2]
    # 0.6 + 0.5 and 0 + 1 beat 0.99 + 0
    assert [j for j, _ in most_similar(unit_rows(v), 0, 3, scaled, 1.0)] == [3, 2, 1]
    nb = blend_neighbours(v, ii, [0.0, 1.0], 2, rows=np.array([0, 2]), batch=1)
    for w in (0.0, 1.0):
        full = neighbour_lists(blend_similarity(v, ii, w), 4, 2)
        assert nb[w][[0, 2]].tolist() == full[[0, 2]].tolist() and (nb[w][[1, 3]] == -1).all()
    # fans of 0 go on to like 2, and fans of 2 like 3: the item-to-item weights say so, the cosine names 1 for 0
    ii = sp.csr_matrix(np.array([[0, 0, 4, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], np.float32))
    known = lists([[(0, 5.0)], [(0, 5.0)], [(2, 5.0)], [(2, 5.0)]])
    after = {0: np.array([2]), 1: np.array([2]), 2: np.array([3]), 3: np.array([3])}
    best, table = choose_similar_weight(v, ii, known, after, 4.0, [0.0, 1.0], 4, k=1)
    assert best == 1.0 and set(table) == {"0.0", "1.0"}  # item-to-item names 2 for 0, as its fans went on to like


def test_series_are_found_by_their_names_and_counted_in_the_lists():
    titles = ["Toy Story (1995)", "Toy Story 2 (1999)", "Matrix, The (1999)", "Matrix Reloaded, The (2003)",
              "Back to the Future Part II (1989)", "Back to the Future (1985)", "Heat (1995)",
              "Lord of the Rings: The Two Towers, The (2002)", "Lord of the Rings: The Fellowship of the Ring, The (2001)"]
    groups = series_groups(titles)
    assert sorted(groups) == [[0, 1], [2, 3], [4, 5], [7, 8]]
    nb = np.array([[1, 6], [6, 0], [3, 0], [6, 2], [5, 6], [6, 0], [0, 1], [8, 0], [6, 0]])
    assert series_share(nb, groups, k=1) == {"series_any@1": 4 / 8, "series_all@1": 4 / 8, "series_movies": 8}
    assert series_share(nb, groups, k=2)["series_any@2"] == 6 / 8


def test_the_hit_rate_of_many_users_matches_a_user_by_user_count():
    # the rate is computed for all users at once, a block at a time: it must equal counting each user's pairs
    rng = np.random.default_rng(3)
    n_movies = 2**22  # wide enough that the users span several blocks of the lookup table
    per_user = [[(int(m), 5.0) for m in rng.integers(0, 400, rng.integers(0, 12))] for _ in range(120)]
    before = lists(per_user)
    nb = np.full((n_movies, 10), -1, np.int64)
    nb[:400] = rng.integers(0, 400, (400, 10))
    nb[rng.integers(0, 400, 40)] = -1  # movies without a list
    after = {int(u): rng.integers(0, 400, rng.integers(0, 6)) for u in rng.permutation(120)[:90]}
    rates = []
    for u, later in after.items():
        first = before.of(u)[0]
        if len(first) and len(later):
            rates.append(sum(int(np.isin(nb[m, :10], later).sum()) for m in first) / (len(first) * len(later)))
    assert similar_hit_rate(nb, before, after) == pytest.approx(float(np.mean(rates)), abs=1e-12)
    assert similar_hit_rate(nb, before, {0: np.zeros(0, np.int64)}) == 0.0


def test_blend_lists_match_the_dense_blend_for_each_weight():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(300, 8)).astype(np.float32)
    ii = sp.random(300, 300, density=0.05, random_state=4, format="csr", dtype=np.float32)
    rows = rng.permutation(300)[:120]
    nb = blend_neighbours(v, ii, [0.0, 0.5, 2.0], 7, rows=rows, batch=50)
    for w in (0.0, 0.5, 2.0):
        scores = unit_rows(v) @ unit_rows(v).T + w * row_scaled(ii).toarray()
        np.fill_diagonal(scores, -np.inf)
        expect = np.argsort(-scores[rows], axis=1, kind="stable")[:, :7]
        got = nb[w][rows]
        assert (np.take_along_axis(scores[rows], got, 1) == np.take_along_axis(scores[rows], expect, 1)).all()
