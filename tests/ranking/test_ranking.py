"""The second stage on tiny hand-made examples: features, the sparse item-to-item model, the ordering, the
choice of discount, the files, and the evaluation scorer's agreement with the served ordering."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from movierec.errors import MovieRecError
from movierec.evaluation.baselines import EASEScorer
from movierec.ranking.features import FEATURES, MovieFacts, pair_features
from movierec.ranking.itemitem import history_scores, sparse_ease
from movierec.ranking.ranker import RankerSettings, TwoStage, final_scores, load_two_stage
from movierec.ranking.training import RankConfig, RankingRows, choose_blend, cross_validate, fit_booster, judge
from movierec.training.data import RatingLists

F = {name: j for j, name in enumerate(FEATURES)}


def _facts() -> MovieFacts:
    # 4 movies; genres: 0 = A, 1 = A|B, 2 = B, 3 = none; tags: movie 0 and 1 carry tag 0, movie 2 tag 1
    train = pd.DataFrame({"movie_idx": [0, 0, 1, 2], "rating": [5.0, 3.0, 4.0, 2.0], "timestamp": [0, 10, 20, 10**9]})
    mf = pd.DataFrame({"movie_idx": [0, 1, 2, 3], "genres": [["A"], ["A", "B"], ["B"], ["(no genres listed)"]],
                       "year": pd.array([1990, 2000, None, 2010], dtype="Int64"),
                       "tag_ids": [[0], [0], [1], []]})  # fmt: skip
    return MovieFacts.build(train, mf, recent_weeks=1)


def test_movie_facts_come_from_the_training_ratings():
    f = _facts()
    assert f.log_popularity.tolist() == pytest.approx(np.log1p([2, 1, 1, 0]).tolist())
    assert f.log_recent.tolist() == pytest.approx(np.log1p([0, 0, 1, 0]).tolist())  # only movie 2 is recent
    overall = 14.0 / 4
    assert f.mean[0] == pytest.approx((8 + 10 * overall) / 12) and f.mean[3] == pytest.approx(overall)
    assert np.isnan(f.year[2]) and f.year[3] == 2010
    assert f.genres.toarray().tolist() == [[1, 0], [1, 1], [0, 1], [0, 0]]


def test_pair_features_of_a_known_user():
    f = _facts()
    # the user rated movie 0 (5 stars) and 2 (1 star): mean 3, A liked, B disliked
    x = pair_features(np.array([0, 2]), np.array([5.0, 1.0], np.float32), np.array([1, 3]), np.array([2.0, 1.0]),
                      np.array([0.0, 0.5]), f)  # fmt: skip
    assert x.shape == (2, len(FEATURES))
    assert x[:, F["two_tower_rank"]].tolist() == [0, 1] and x[:, F["itemitem_rank"]].tolist() == [1, 0]
    assert x[:, F["two_tower_z"]].tolist() == pytest.approx([1, -1])
    assert x[0, F["user_mean"]] == 3.0 and x[0, F["user_log_count"]] == pytest.approx(np.log1p(2))
    # movie 1 is A|B: half the user's ratings are A, half B
    assert x[0, F["genre_share"]] == pytest.approx(0.5) and x[1, F["genre_share"]] == 0.0
    # lift: A +2, B -2 -> 0 for A|B; movie 3 has no genre the user rated
    assert x[0, F["genre_lift"]] == pytest.approx(0.0) and np.isnan(x[1, F["genre_lift"]])
    # liked (at or above the mean): movie 0 with tag 0, which movie 1 carries
    assert x[:, F["tag_match"]].tolist() == [1.0, 0.0]
    assert x[0, F["year_gap"]] == pytest.approx(2000 - 1990)  # movie 2's year is unknown: left out of the mean


def test_a_visitor_with_no_history_gets_defined_features():
    x = pair_features(np.zeros(0, np.int64), np.zeros(0, np.float32), np.array([0, 1]), np.ones(2), np.zeros(2),
                      _facts())  # fmt: skip
    assert x[:, F["genre_share"]].tolist() == [0, 0] and x[:, F["tag_match"]].tolist() == [0, 0]


def test_sparse_ease_keeps_the_strongest_weights_per_movie():
    rng = np.random.default_rng(0)
    lists = RatingLists.from_frame(pd.DataFrame({"user_idx": rng.integers(0, 30, 300), "movie_idx": rng.integers(0, 8, 300),
                                                 "rating": 4.0, "timestamp": np.arange(300)}), 30)  # fmt: skip
    ease = EASEScorer(lists, 10, lam=5.0)  # movies 8 and 9 are never rated: outside EASE
    m = sparse_ease(ease, top_k=3)
    assert m.shape == (10, 10) and np.all(np.diff(m.indptr)[:8] == 3) and m[8:].nnz == 0
    b = ease.b.numpy()
    for h in range(8):
        kept = set(m[h].indices.tolist())
        assert kept == set(np.argsort(-b[h])[:3].tolist())
    # scoring a history sums the kept rows
    assert history_scores(m, np.array([1, 2])).tolist() == pytest.approx(np.asarray(m[1].toarray() + m[2].toarray()).ravel().tolist())
    assert history_scores(m, np.zeros(0, np.int64)).tolist() == [0.0] * 10


def _stage(n_movies=30, dim=4, seed=0, booster=None, **settings) -> TwoStage:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n_movies, dim)).astype(np.float32)
    itemitem = sp.random(n_movies, n_movies, density=0.2, random_state=seed, format="csr", dtype=np.float32)
    train = pd.DataFrame({"movie_idx": rng.integers(0, n_movies, 400), "rating": rng.integers(1, 11, 400) / 2,
                          "timestamp": np.arange(400)})  # fmt: skip
    mf = pd.DataFrame({"movie_idx": np.arange(n_movies), "genres": [["A", "B", "C"][i % 3:i % 3 + 1] for i in range(n_movies)],
                       "year": pd.array(1980 + np.arange(n_movies), dtype="Int64"), "tag_ids": [[i % 5] for i in range(n_movies)]})  # fmt: skip
    return TwoStage(vectors, itemitem, MovieFacts.build(train, mf, 4), booster, RankerSettings(**settings))


def _rows(stage: TwoStage, n_users=60, seed=1) -> tuple[RankingRows, dict]:
    """Users with random histories whose relevant movies are the candidates with the highest movie mean."""
    rng = np.random.default_rng(seed)
    xs, labels, cands, sizes, relevant = [], [], [], [], {}
    for u in range(n_users):
        items = rng.choice(len(stage.movie_vectors), 12, replace=False)
        ratings = (rng.integers(1, 11, 12) / 2).astype(np.float32)
        v = rng.normal(size=stage.movie_vectors.shape[1]).astype(np.float32)
        cand, x = stage.features(v, items, ratings, stage.exact_candidates(v, items))
        rel = cand[np.argsort(-stage.facts.mean[cand])[:3]]
        relevant[u] = rel
        xs.append(x), labels.append(np.isin(cand, rel).astype(np.float32)), cands.append(cand), sizes.append(len(cand))
    rows = RankingRows(np.concatenate(xs), np.concatenate(labels), np.arange(n_users), np.array(sizes), np.concatenate(cands))
    return rows, relevant


def test_the_booster_learns_a_signal_the_first_stage_lacks():
    stage = _stage(candidates=12, itemitem_candidates=4)
    rows, relevant = _rows(stage)
    cfg = RankConfig(num_leaves=3, min_data_in_leaf=5, max_trees=40, folds=3, threads=1)
    oof, trees, curve = cross_validate(rows, cfg, seed=0)
    assert 1 <= trees <= 40 and len(curve) == 40
    learned = judge(rows, oof, relevant, 30)["ndcg@10"]
    first_stage = judge(rows, -rows.x[:, F["two_tower_rank"]], relevant, 30)["ndcg@10"]
    assert learned > first_stage + 0.2  # out of fold: the relevant movies are the best rated, which it can see
    booster = fit_booster(rows, cfg, trees, seed=0)
    assert booster.num_trees() == trees and booster.num_feature() == len(FEATURES)


def test_choose_blend_takes_the_best_ndcg_above_the_coverage_floor():
    stage = _stage(candidates=12, itemitem_candidates=0)
    rows, relevant = _rows(stage)
    scores = rows.x[:, F["movie_mean"]].astype(np.float64)  # a perfect ranker of these labels
    pop = stage.facts.log_popularity
    chosen, table = choose_blend(rows, scores, pop, relevant, 30, 0.0, [0.0, 1.0, 100.0], [0.0, 2.0])
    assert [(t["weight"], t["discount"]) for t in table] == [(0.0, 0.0), (0.0, 2.0), (1.0, 0.0), (1.0, 2.0),
                                                            (100.0, 0.0), (100.0, 2.0)]  # fmt: skip
    assert chosen == {"weight": 100.0, "discount": 0.0}  # the booster all but alone: it knows the labels
    weight_0 = next(t for t in table if t["weight"] == 0.0 and t["discount"] == 0.0)
    assert weight_0 == {"weight": 0.0, "discount": 0.0, **judge(rows, rows.x[:, F["two_tower_score"]], relevant, 30)}
    best_cov = max(t["coverage@10"] for t in table)
    floor, _ = choose_blend(rows, scores, pop, relevant, 30, best_cov, [0.0, 1.0, 100.0], [0.0, 2.0])
    assert next(t for t in table if (t["weight"], t["discount"]) == tuple(floor.values()))["coverage@10"] >= best_cov
    # a floor nobody reaches: the most coverage
    none, _ = choose_blend(rows, scores, pop, relevant, 30, 2.0, [0.0, 1.0, 100.0], [0.0, 2.0])
    assert next(t for t in table if (t["weight"], t["discount"]) == tuple(none.values()))["coverage@10"] == best_cov


def test_final_scores_are_scale_free():
    tt, pop = np.array([0.5, 0.1, 0.3]), np.array([3.0, 2.0, 1.0])
    a = final_scores(tt, np.array([1.0, 2.0, 3.0]), pop, 0.7, 0.5)
    b = final_scores(tt * 4, np.array([10.0, 20.0, 30.0]), pop, 0.7, 0.5)
    assert a.tolist() == pytest.approx(b.tolist())
    assert np.argsort(-final_scores(tt, np.zeros(3), pop, 1.0, 0.0)).tolist() == [0, 2, 1]  # no signal: the first stage


def test_order_thin_profiles_exact_candidates_and_filters():
    stage = _stage(candidates=10, itemitem_candidates=5, min_ratings=3)
    rows, _ = _rows(stage, n_users=40)
    stage.booster = fit_booster(rows, RankConfig(min_data_in_leaf=5, threads=1), 20, seed=0)
    v = np.ones(4, np.float32)
    items, ratings = np.array([0, 1, 2]), np.array([5.0, 4.0, 3.0], np.float32)
    cand = stage.exact_candidates(v, items)
    assert len(cand) == 10 and not set(cand) & {0, 1, 2}
    many = stage.exact_candidates_many(np.stack([v, -v]), [items, np.array([5])])
    assert many[0].tolist() == cand.tolist() and many[1].tolist() == stage.exact_candidates(-v, np.array([5])).tolist()
    scores = stage.movie_vectors @ v
    assert list(scores[cand]) == sorted(scores[cand], reverse=True)
    # below min_ratings: the two-tower's order itself
    assert [m for m, _ in stage.order(v, items[:2], ratings[:2], cand, 5)] == cand[:5].tolist()
    ranked = stage.order(v, items, ratings, cand, 8)
    assert len(ranked) == 8 and [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    # the item-to-item candidates respect the request's filters
    allowed = np.zeros(30, bool)
    allowed[cand] = True
    pool, _, _ = stage.candidate_pool(v, items, cand, allowed)
    assert set(pool) <= set(cand)
    assert stage.order(v, items, ratings, np.zeros(0, np.int64), 5) == []


def test_saved_ranker_orders_the_same_and_damage_is_a_clear_error(tmp_path):
    stage = _stage(candidates=10, itemitem_candidates=5, min_ratings=1, weight=2.0, discount=0.2)
    rows, _ = _rows(stage, n_users=40)
    stage.booster = fit_booster(rows, RankConfig(min_data_in_leaf=5, threads=1), 15, seed=0)
    stage.save(tmp_path / "ranker")
    again = load_two_stage(tmp_path / "ranker", stage.movie_vectors)
    assert again.settings == stage.settings
    v, items, ratings = np.ones(4, np.float32), np.array([3, 4]), np.array([4.0, 2.0], np.float32)
    cand = stage.exact_candidates(v, items)
    before, after = stage.order(v, items, ratings, cand, 10), again.order(v, items, ratings, cand, 10)
    assert [m for m, _ in after] == [m for m, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before])
    with pytest.raises(MovieRecError, match="does not match the model's catalogue"):
        load_two_stage(tmp_path / "ranker", stage.movie_vectors[:20])
    (tmp_path / "ranker" / "itemitem.npz").write_bytes(b"\x00" * 10)
    with pytest.raises(MovieRecError, match="cannot be read"):
        load_two_stage(tmp_path / "ranker", stage.movie_vectors)
    with pytest.raises(MovieRecError, match="no ranker in .*missing booster.txt"):
        load_two_stage(tmp_path / "nothing", stage.movie_vectors)


def test_rank_config_refuses_bad_values_by_name():
    from movierec.utils import make_config

    with pytest.raises(MovieRecError, match="params.yaml rank: .*folds 2 or more"):
        make_config(RankConfig, "rank", {"folds": 1})
    with pytest.raises(MovieRecError, match="params.yaml rank: weights and discounts"):
        make_config(RankConfig, "rank", {"discounts": [-1.0]})


def test_top_by_score_orders_each_pool_by_score_ties_in_pool_order():
    from movierec.ranking.training import top_by_score

    rng = np.random.default_rng(6)
    sizes = np.array([0, 3, 12, 1, 7], np.int64)
    n = int(sizes.sum())
    rows = RankingRows(np.zeros((n, len(FEATURES)), np.float32), np.zeros(n, np.float32), np.arange(len(sizes)),
                       sizes, rng.permutation(1000)[:n])  # fmt: skip
    score = np.round(rng.normal(size=n), 1)  # rounded: ties
    top = top_by_score(rows, score, 5)
    off = rows.offsets()
    for q in range(len(sizes)):
        s, c = score[off[q] : off[q + 1]], rows.cand[off[q] : off[q + 1]]
        expect = [c[i] for i in sorted(range(len(s)), key=lambda i: (-s[i], i))][:5]
        assert top[q].tolist() == expect + [-1] * (5 - len(expect))
