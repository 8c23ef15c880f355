"""Training views on hand-made rating lists: blocks, histories, targets, steps and shares between processes."""

import numpy as np
import pandas as pd
import pytest

from movierec.training.data import RatingLists
from movierec.training.views import epoch_batches, make_views, step_slices, view_batch


def rating_lists(counts, seed=0) -> RatingLists:
    rng = np.random.default_rng(seed)
    n = int(sum(counts))
    df = pd.DataFrame({"user_idx": np.repeat(np.arange(len(counts)), counts),
                       "movie_idx": np.concatenate([rng.permutation(500)[:c] for c in counts]),  # distinct per user
                       "rating": rng.integers(1, 11, n) / 2, "timestamp": np.arange(n)})  # fmt: skip
    return RatingLists.from_frame(df, len(counts))


def test_blocks_cut_each_list_and_hold_about_the_asked_targets():
    lists = rating_lists([10, 0, 3, 40])
    liked = lists.ratings >= 3.0
    views = make_views(lists, liked, targets_per_view=4)
    for u in range(lists.n_users):
        mine = views.user == u
        n_liked = int(liked[lists.indptr[u] : lists.indptr[u + 1]].sum())
        assert views.n_targets[mine].sum() == n_liked  # every liked rating in exactly one block
        blocks = sorted(zip(views.block[mine], views.size[mine]))
        assert all(b + s <= lists.counts()[u] for b, s in blocks)
        assert all(b1 + s1 <= b2 for (b1, s1), (b2, _) in zip(blocks, blocks[1:]))  # no overlap
    assert (views.n_targets > 0).all() and 1 not in views.user.tolist()
    with pytest.raises(ValueError):
        make_views(lists, liked, 0)


def test_history_is_the_users_other_ratings_and_targets_their_liked_block():
    lists = rating_lists([12, 30, 5, 1, 250], seed=1)
    liked = lists.ratings >= 3.0
    views = make_views(lists, liked, targets_per_view=3)
    batch = view_batch(lists, views, np.arange(len(views)), liked, max_len=20, rng=np.random.default_rng(0))
    for v in range(len(views)):
        u, b, s = views.user[v], views.block[v], views.size[v]
        items, ratings = lists.of(int(u))
        block = set(items[b : b + s].tolist())
        hist = batch.items[v, batch.mask[v]].tolist()
        assert len(hist) == min(len(items) - s, 20) and len(set(hist)) == len(hist)  # a window, no repeats
        assert set(hist) <= set(items.tolist()) - block  # the user's own ratings, none of the block's
        got = batch.target_movie[batch.target_view == v].tolist()
        assert got == [m for m, r in zip(items[b : b + s], ratings[b : b + s]) if r >= 3.0]
        assert batch.target_rating[batch.target_view == v].min() >= 3.0
    short = view_batch(lists, views, np.arange(len(views)), liked, 20, np.random.default_rng(0), short_prob=1.0,
                       short_max=2)  # fmt: skip
    assert short.mask.sum(1).max() <= 2


def test_steps_split_an_epoch_by_targets():
    lists = rating_lists([40] * 30, seed=2)
    liked = lists.ratings >= 3.0
    views = make_views(lists, liked, 4)
    order = np.random.default_rng(0).permutation(len(views))
    steps = step_slices(views, order, targets_per_step=50)
    assert np.concatenate(steps).tolist() == order.tolist()
    sizes = [int(views.n_targets[s].sum()) for s in steps]
    # each step ends at the first view that takes the running total to a multiple of 50
    most = int(views.n_targets.max())  # blocks are cut by entries, so one may hold a few more than 4
    assert all(50 - most < n < 50 + most for n in sizes[:-1]) and 0 < sizes[-1] < 50 + most


def test_an_epoch_trains_on_every_liked_rating_once_and_processes_share_each_step():
    lists = rating_lists([40, 7, 25, 60, 3, 18], seed=3)
    liked_fn = lambda r: r >= 3.0  # noqa: E731
    n_steps, batches = epoch_batches(lists, liked_fn, 4, 20, 10, np.random.default_rng(5))
    one = list(batches)
    assert len(one) == n_steps
    seen = sorted((int(u), int(m)) for b in one for u, m in zip(b.user[b.target_view], b.target_movie))
    want = sorted((int(u), int(m)) for u in range(lists.n_users) for m, r in zip(*lists.of(u)) if r >= 3.0)
    assert seen == want
    shares = [list(epoch_batches(lists, liked_fn, 4, 20, 10, np.random.default_rng(5), rank=r, world=2)[1]) for r in (0, 1)]  # noqa: E501
    assert len(shares[0]) == len(shares[1]) == n_steps  # the same number of steps in every process
    for whole, a, b in zip(one, *shares):
        assert sorted(a.target_movie.tolist() + b.target_movie.tolist()) == sorted(whole.target_movie.tolist())
