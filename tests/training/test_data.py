import numpy as np
import pandas as pd
import pytest

from movierec.training.data import RatingLists, history_batch, history_chunks


def lists():
    df = pd.DataFrame({"user_idx": [1, 0, 0, 0, 1], "movie_idx": [7, 3, 1, 2, 8],
                       "rating": [5.0, 1.0, 2.0, 3.0, 4.0], "timestamp": [9, 30, 10, 20, 1]})  # fmt: skip
    return RatingLists.from_frame(df, n_users=3)


def test_rating_lists_are_grouped_by_user_oldest_first():
    rl = lists()
    assert rl.counts().tolist() == [3, 2, 0]
    assert rl.of(0)[0].tolist() == [1, 2, 3] and rl.of(0)[1].tolist() == [2.0, 3.0, 1.0]
    assert rl.of(1)[0].tolist() == [8, 7] and len(rl.of(2)[0]) == 0
    assert rl.matrix(10).toarray()[1].nonzero()[0].tolist() == [7, 8]
    assert rl.matrix(10, binary=False).toarray()[0, 3] == 1.0
    shuffled = rl.shuffled(np.random.default_rng(0))
    assert sorted(shuffled.of(0)[0].tolist()) == [1, 2, 3] and shuffled.counts().tolist() == [3, 2, 0]


def test_history_batch_most_recent_and_masks():
    items, ratings, mask = history_batch(lists(), np.array([0, 1, 2]), max_len=2)
    assert items[0].tolist() == [2, 3] and ratings[0].tolist() == [3.0, 1.0]  # the two most recent
    assert mask.tolist() == [[True, True], [True, True], [False, False]]
    items, _, mask = history_batch(lists(), np.array([0]), max_len=5)
    assert items[0, mask[0]].tolist() == [1, 2, 3]


def test_history_batch_whole_histories():
    items, _, mask = history_batch(lists(), np.array([1, 2]), max_len=0)  # as wide as the longest: 2
    assert items.shape == (2, 2) and items[0].tolist() == [8, 7] and mask.tolist() == [[True, True], [False, False]]


def test_history_chunks_bound_the_padding_and_match_one_batch():
    rng = np.random.default_rng(3)
    n_users = 50
    counts = rng.integers(0, 40, n_users)
    counts[7] = 400  # one heavy user
    df = pd.DataFrame({"user_idx": np.repeat(np.arange(n_users), counts),
                       "movie_idx": rng.integers(0, 100, counts.sum()),
                       "rating": rng.integers(1, 11, counts.sum()) / 2, "timestamp": rng.integers(0, 10**6, counts.sum())})  # noqa: E501  # fmt: skip
    rl = RatingLists.from_frame(df, n_users)
    users = rng.permutation(n_users)
    for max_len in (0, 25):
        chunks = list(history_chunks(rl, users, max_len, budget=1000, max_users=16))
        assert np.concatenate([c[0] for c in chunks]).tolist() == users.tolist()  # every user once, in order
        for chunk, items, ratings, mask in chunks:
            assert len(chunk) <= 16 and (items.numel() <= 1000 or len(chunk) == 1)
            want = np.minimum(rl.counts()[chunk], max_len) if max_len else rl.counts()[chunk]
            assert mask.sum(1).tolist() == want.tolist()
            for row, u in enumerate(chunk):  # each user's most recent ratings, oldest first
                assert items[row, mask[row]].tolist() == rl.of(int(u))[0][-want[row]:].tolist()[: want[row]]
    assert [len(c[0]) for c in history_chunks(rl, [7, 0, 1], 0, budget=700)] == [1, 2]  # 400 wide: alone


def test_rating_lists_order_each_user_by_time_whatever_the_timestamps_span():
    # the second frame's timestamps span more than a 64-bit key can hold beside the users: the other sort path
    for ts in ([5, 3, 9, 3, 1, 7], [2**62, -(2**62), 0, 5, 2**61, 1]):
        df = pd.DataFrame({"user_idx": [1, 0, 1, 0, 1, 0], "movie_idx": [10, 11, 12, 13, 14, 15],
                           "rating": [1.0, 2.0, 3.0, 4.0, 5.0, 4.5], "timestamp": np.array(ts, np.int64)})  # fmt: skip
        lists = RatingLists.from_frame(df, 3)
        assert lists.indptr.tolist() == [0, 3, 6, 6]
        for u in (0, 1):
            rows = df[df.user_idx == u].sort_values("timestamp", kind="stable")
            assert lists.of(u)[0].tolist() == rows.movie_idx.tolist()
