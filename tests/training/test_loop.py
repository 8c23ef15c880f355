"""Training end to end on small synthetic data: every loss runs, learning happens, runs repeat exactly."""

import numpy as np
import pytest
import torch

from movierec.evaluation.baselines import PopularityScorer
from movierec.evaluation.protocol import TwoTowerScorer, evaluate_scorer, user_sample
from movierec.training.inputs import build_model, load_pipeline_data
from movierec.training.loop import EarlyStopping, TrainConfig, TrainData, auto_settings, fit, positives, resolve
from tests.training import prepared

SMALL_MODEL = {"embedding_dim": 16, "hidden_dims": [32], "max_history": 50}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = prepared(tmp_path_factory.mktemp("train"), n_users=150, n_movies=120, n_ratings=7_000)
    return load_pipeline_data(root / "prep", root / "feat", 4.0)


def train(data, **kw):
    torch.manual_seed(0)
    model = build_model(data, SMALL_MODEL)
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 256, "patience": 5, **kw})
    return fit(model, TrainData(data.train, data.val_relevant, data.n_movies), cfg, progress=False)


def test_same_params_same_metrics(data):
    model_a, hist_a = train(data)
    model_b, hist_b = train(data)
    strip = [{k: v for k, v in h.items() if k not in ("seconds", "interactions_per_s")} for h in hist_a]
    assert strip == [{k: v for k, v in h.items() if k not in ("seconds", "interactions_per_s")} for h in hist_b]
    a, _, _ = evaluate_scorer(TwoTowerScorer(model_a, 50), data.known, data.test_relevant, [10], data.n_movies)
    b, _, _ = evaluate_scorer(TwoTowerScorer(model_b, 50), data.known, data.test_relevant, [10], data.n_movies)
    assert a == b
    _, hist_c = train(data, seed=43)
    assert hist_c[0]["loss"] != hist_a[0]["loss"]


@pytest.mark.parametrize("loss", ["softmax", "bpr", "mse", "mse_bpr"])
def test_every_loss_trains_and_keeps_the_best_epoch(data, loss):
    model, hist = train(data, loss=loss, epochs=2)
    assert len(hist) == 2 and all(np.isfinite(h["loss"]) for h in hist)
    assert hist[1]["loss"] < hist[0]["loss"]  # it learns
    kept = next(h for h in hist if h["kept"])
    # the kept epoch: the best, or a later one within the tolerance of it
    assert kept["val_ndcg@10"] >= max(h["val_ndcg@10"] for h in hist) - TrainConfig().tolerance
    now, _, _ = evaluate_scorer(TwoTowerScorer(model, 50), data.train, data.val_relevant, [10], data.n_movies)
    assert now["ndcg@10"] == pytest.approx(kept["val_ndcg@10"])  # the kept epoch's weights are the ones returned


def test_weight_average_is_what_is_validated_and_kept(data):
    plain, _ = train(data, epochs=2)
    model, hist = train(data, epochs=2, ema_decay=0.9)
    best = max(h["val_ndcg@10"] for h in hist)
    now, _, _ = evaluate_scorer(TwoTowerScorer(model, 50), data.train, data.val_relevant, [10], data.n_movies)
    assert now["ndcg@10"] == pytest.approx(best)  # the averaged weights of the best epoch are the ones kept
    # same seed, same batches: only the averaging differs, and it changes the weights kept
    assert not torch.allclose(plain.movie_id.weight, model.movie_id.weight)


@pytest.fixture(scope="module")
def taste_data(tmp_path_factory):
    """Synthetic data where taste, not popularity, decides what users watch."""
    root = prepared(tmp_path_factory.mktemp("taste"), seed=3, n_users=300, n_movies=200, n_ratings=12_000,
                    popularity_exponent=0.5, explore=0.05, taste_concentration=0.1)  # fmt: skip
    return load_pipeline_data(root / "prep", root / "feat", 4.0)


def test_learns_more_than_popularity(taste_data):
    data = taste_data
    model, hist = train(data, epochs=12)
    assert hist[-1]["loss"] < hist[0]["loss"]
    tt, _, _ = evaluate_scorer(TwoTowerScorer(model, 50), data.known, data.test_relevant, [10], data.n_movies)
    pop, _, _ = evaluate_scorer(PopularityScorer(data.train, data.n_movies), data.known, data.test_relevant, [10],
                                data.n_movies)  # fmt: skip
    assert tt["ndcg@10"] > pop["ndcg@10"]


def test_early_stopping_and_step_limit(data):
    _, hist = train(data, epochs=30, patience=1, learning_rate=0.5)  # a wild step size stops improving at once
    vals = [h["val_ndcg@10"] for h in hist]
    first_worse = next(i for i in range(1, len(vals)) if vals[i] <= vals[i - 1] + 0.001)
    assert len(hist) == first_worse + 1 < 30  # patience 1: the first epoch without a gain (tolerance) is the last
    _, hist = train(data, epochs=5, max_steps=3)
    assert len(hist) == 1


def test_early_stopping_keeps_the_latest_epoch_validation_cannot_tell_from_the_best():
    vals = [0.10, 0.20, 0.195, 0.15, 0.21, 0.15, 0.15, 0.15]
    plain, tolerant = EarlyStopping(patience=3), EarlyStopping(patience=3, tolerance=0.01)
    got = [plain.update(v) for v in vals]
    assert [k for k, _, _ in got] == [True, True, False, False, True, False, False, False]  # new bests only
    assert [s for _, s, _ in got] == [False] * 7 + [True]  # 3 epochs without a gain
    assert [d for _, _, d in got] == [False, False, False, True, False, False, True, False]  # every 2 without a best
    got = [tolerant.update(v) for v in vals]
    assert [k for k, _, _ in got] == [True, True, True, False, True, False, False, False]  # 0.195 is within 0.01
    assert tolerant.best == 0.21
    eager = EarlyStopping(patience=1)  # stops at the first epoch without a gain
    assert eager.update(0.1) == (True, False, False) and eager.update(0.2)[:2] == (True, False)
    assert eager.update(0.1)[:2] == (False, True)


def test_early_stopping_ends_a_curve_that_only_creeps():
    def run(vals):
        stopping = EarlyStopping(patience=3, tolerance=0.001)
        return [stopping.update(v) for v in vals]

    creeping = run([0.20 + 0.0002 * i for i in range(30)])  # 0.0006 over 3 epochs: flat for a tolerance of 0.001
    assert [s for _, s, _ in creeping].index(True) == 3
    assert all(k for k, _, _ in creeping[:4])  # every epoch a new best: the latest is kept, and ends training
    rising = run([0.20 + 0.0004 * i for i in range(30)])  # 0.0012 over 3 epochs: a gain that resets the count
    assert not any(s for _, s, _ in rising)


def test_tolerance_keeps_a_later_epoch(data):
    _, hist = train(data, epochs=4)
    assert sum(h["kept"] for h in hist) == 1
    assert next(h for h in hist if h["kept"])["val_ndcg@10"] == max(h["val_ndcg@10"] for h in hist)
    model, hist = train(data, epochs=4, tolerance=1.0)  # every epoch is as good as validation can tell
    assert [h["kept"] for h in hist] == [False, False, False, True]
    last, _, _ = evaluate_scorer(TwoTowerScorer(model), data.train, data.val_relevant, [10], data.n_movies)
    assert last["ndcg@10"] == pytest.approx(hist[-1]["val_ndcg@10"])


def test_bad_settings(data):
    with pytest.raises(ValueError, match="loss must be"):
        TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="tolerance must be"):
        TrainConfig(tolerance=-0.1)
    with pytest.raises(ValueError, match="positive_threshold"):
        train(data, positive_threshold=9.0)
    users, movies, ratings = positives(data.train, 4.0)
    assert (ratings >= 4.0).all() and len(users) == len(movies)
    with pytest.raises(ValueError, match="targets_per_view"):
        TrainConfig(targets_per_view=0)
    with pytest.raises(ValueError, match="sparse_updates"):
        TrainConfig(sparse_updates=True, weight_decay=0.01)
    with pytest.raises(ValueError, match="batch_size must be an integer or 'auto', not 'big'"):
        TrainConfig(batch_size="big")
    with pytest.raises(ValueError, match="sparse_updates must be true or false or 'auto', not 1"):
        TrainConfig(sparse_updates=1)
    with pytest.raises(ValueError, match="batch_size and targets_per_view must be 1 or more"):
        TrainConfig(batch_size=0)


@pytest.mark.parametrize("n_targets, n_movies, expected", [
    (58_000, 9_700, (1024, 4, 0, False, 5)),  # ml-latest-small: the step it was tuned at
    (560_000, 3_700, (1024, 4, 0, False, 2)),  # ml-1m: about 550 steps of the small step
    (5_600_000, 10_700, (8192, 32, 4096, False, 2)),
    (14_750_000, 62_423, (32768, 32, 4096, True, 2)),  # ml-25m
    (400_000_000, 100_000, (32768, 32, 4096, True, 2)),  # the largest step, however large the data
])  # fmt: skip
def test_auto_settings_follow_the_data_size(n_targets, n_movies, expected):
    got = auto_settings(n_targets, n_movies)
    assert tuple(got[k] for k in ("batch_size", "targets_per_view", "negatives", "sparse_updates", "patience")) == expected
    assert not auto_settings(n_targets, n_movies, weight_decay=0.01)["sparse_updates"]  # SparseAdam has none
    cfg = TrainConfig(batch_size=4096, patience=7).resolved(n_targets, n_movies)  # a number given stays ...
    assert (cfg.batch_size, cfg.patience, cfg.targets_per_view, cfg.negatives) == (4096, 7, 16, 0)  # ... and leads


def test_fit_trains_with_the_resolved_settings_and_says_what_stopped_it(data):
    cfg = TrainConfig(epochs=2, patience=5)
    resolved = resolve(cfg, TrainData(data.train, data.val_relevant, data.n_movies))
    assert (resolved.batch_size, resolved.targets_per_view, resolved.negatives, resolved.sparse_updates,
            resolved.patience) == (1024, 4, 0, False, 5)  # fmt: skip
    _, auto = train(data, epochs=2, batch_size="auto")
    _, fixed = train(data, epochs=2, batch_size=1024)
    assert [h["loss"] for h in auto] == [h["loss"] for h in fixed]
    assert auto[-1]["stopped_by"] == "epochs"
    _, hist = train(data, epochs=5, max_steps=3)
    assert hist[-1]["stopped_by"] == "max_steps"
    _, hist = train(data, epochs=30, patience=1, learning_rate=0.5)
    assert hist[-1]["stopped_by"] == "early_stopping"


def test_sparse_updates_move_only_the_rows_a_step_saw(data):
    torch.manual_seed(0)
    model = build_model(data, SMALL_MODEL)
    before = model.movie_id.weight.detach().clone()
    cfg = TrainConfig(epochs=1, batch_size=64, max_steps=1, sparse_updates=True, negatives=16, seed=0)
    model, hist = fit(model, TrainData(data.train, data.val_relevant, data.n_movies), cfg, progress=False)
    moved = (model.movie_id.weight != before).any(1)
    assert 0 < int(moved.sum()) < data.n_movies  # the step's target movies, not the whole table
    assert not model.movie_id.sparse  # the returned model is an ordinary one again
    assert np.isfinite(hist[0]["loss"])
    dense, _ = train(data, epochs=1, max_steps=1, batch_size=64)
    assert bool((dense.movie_id.weight != before).all(1).any())  # Adam moves rows a step never saw


def test_validation_reads_a_fixed_sample_of_users(data):
    _, full = train(data, epochs=2)
    _, few = train(data, epochs=2, val_users=10)
    _, again = train(data, epochs=2, val_users=10)
    assert [h["val_ndcg@10"] for h in few] == [h["val_ndcg@10"] for h in again]  # the same sample every run
    assert [h["loss"] for h in few] == [h["loss"] for h in full]  # training itself is unchanged
    assert [h["val_ndcg@10"] for h in few] != [h["val_ndcg@10"] for h in full]
    sample = user_sample(data.val_relevant, 10, 42)
    assert len(sample) == 10 and set(sample) <= set(data.val_relevant)
    assert user_sample(data.val_relevant, 10, 42).keys() == sample.keys()
    assert user_sample(data.val_relevant, 0, 42) is data.val_relevant


def test_two_threads_train_the_same_weights_twice(tmp_path):
    """With 2 CPU threads, the embedding gradients' sums came out in a different order from run to run (the
    same seed gave another checkpoint); training now runs with torch's deterministic algorithms."""
    root = prepared(tmp_path, n_users=300, n_movies=400, n_ratings=30_000)
    data = load_pipeline_data(root / "prep", root / "feat", 4.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        states = []
        for _ in range(2):
            torch.manual_seed(0)
            model = build_model(data, {"embedding_dim": 32, "hidden_dims": [32], "max_history": 50})
            model, _ = fit(model, TrainData(data.train, data.val_relevant, data.n_movies),
                           TrainConfig(epochs=1, batch_size=1024), progress=False)  # fmt: skip
            states.append(model.state_dict())
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not torch.are_deterministic_algorithms_enabled()  # the process's setting is given back
