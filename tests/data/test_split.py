import numpy as np
import pytest

from movierec.data.split import holdout_counts, split_per_user


def test_holdout_counts_round_half_up_and_keep_one_for_training():
    assert holdout_counts(np.array([1, 2, 3, 5, 10, 12]), 0.2).tolist() == [0, 0, 1, 1, 2, 2]
    assert holdout_counts(np.array([2, 4]), 0.5).tolist() == [1, 2]
    assert holdout_counts(np.array([3]), 0.9).tolist() == [2]  # never the user's last rating
    with pytest.raises(ValueError):
        holdout_counts(np.array([3]), 1.0)


def test_random_split_sizes_per_user_and_determinism():
    user = np.repeat([0, 1, 2], [10, 5, 1])
    ts = np.arange(len(user))
    a = split_per_user(user, ts, 0.2, "random", np.random.default_rng(7))
    b = split_per_user(user, ts, 0.2, "random", np.random.default_rng(7))
    c = split_per_user(user, ts, 0.2, "random", np.random.default_rng(8))
    assert np.bincount(user[a], minlength=3).tolist() == [2, 1, 0]
    assert (a == b).all()
    assert not (a == c).all()


def test_temporal_split_holds_out_latest_ratings_in_any_input_order():
    user = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    ts = np.array([50, 5, 10, 1, 40, 3, 20, 4, 30, 2])
    held = split_per_user(user, ts, 0.4, "temporal", np.random.default_rng(0))
    assert sorted(ts[held & (user == 0)].tolist()) == [4, 5]
    assert sorted(ts[held & (user == 1)].tolist()) == [40, 50]


def test_unknown_method_and_empty_input():
    with pytest.raises(ValueError, match="random"):
        split_per_user(np.array([0]), np.array([0]), 0.2, "by-genre", np.random.default_rng(0))
    assert split_per_user(np.array([], int), np.array([], int), 0.2, "random", np.random.default_rng(0)).size == 0
