"""Training *views*: the unit a training step is made of.

Each epoch, every user's ratings (in a fresh random order) are cut into consecutive blocks holding about
``targets_per_view`` liked ratings each. A view is one block: the user tower reads the user's *other* ratings
(a random window of at most ``max_history`` of them) and the view's liked movies are its targets. The user
vector is computed once per view and shared by all its targets, instead of once per training rating, and a
target is never part of its own history. Every liked rating is a target exactly once per epoch.

Everything here is array arithmetic over the CSR rating lists: no Python loop over users or rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from movierec.training.data import RatingLists


@dataclass
class Views:
    """``(V,)`` arrays, one entry per view, over a shuffled :class:`RatingLists`."""

    user: np.ndarray  # user index
    block: np.ndarray  # first entry of the target block, relative to the user's first rating
    size: np.ndarray  # entries in the block (liked or not)
    n_targets: np.ndarray  # liked entries in the block

    def __len__(self) -> int:
        return len(self.user)


def make_views(lists: RatingLists, liked: np.ndarray, targets_per_view: int) -> Views:
    """Cut each user's list into ``ceil(liked / targets_per_view)`` blocks of (nearly) equal length; users
    with no liked rating get none. ``liked``: ``(n_ratings,)`` bool over ``lists``' entries. Blocks that happen
    to hold no liked rating are dropped."""
    if targets_per_view < 1:
        raise ValueError(f"targets_per_view must be 1 or more, not {targets_per_view}")
    counts = lists.counts()
    cum_liked = np.concatenate([[0], np.cumsum(liked, dtype=np.int64)])
    n_liked = cum_liked[lists.indptr[1:]] - cum_liked[lists.indptr[:-1]]
    n_views = -(-n_liked // targets_per_view)  # ceil
    user = np.repeat(np.arange(lists.n_users, dtype=np.int64), n_views)
    first = np.concatenate([[0], np.cumsum(n_views)])[:-1]
    j = np.arange(len(user), dtype=np.int64) - np.repeat(first, n_views)  # view number within its user
    n, f = counts[user], n_views[user]
    block, end = j * n // f, (j + 1) * n // f
    start = lists.indptr[user]
    n_targets = cum_liked[start + end] - cum_liked[start + block]
    keep = n_targets > 0
    return Views(user[keep], block[keep], (end - block)[keep], n_targets[keep])


def step_slices(views: Views, order: np.ndarray, targets_per_step: int) -> list[np.ndarray]:
    """Split ``order`` (a permutation of the views) into consecutive steps of about ``targets_per_step``
    targets each; the last step takes what is left."""
    cum = np.cumsum(views.n_targets[order])
    total = int(cum[-1]) if len(cum) else 0
    cuts = np.searchsorted(cum, np.arange(targets_per_step, total, targets_per_step), side="left") + 1
    cuts = np.unique(cuts[cuts < len(order)])
    return [part for part in np.split(order, cuts) if len(part)]


@dataclass
class ViewBatch:
    """What one step trains on. ``V`` views with histories of width ``H``; ``T`` targets."""

    user: np.ndarray  # (V,) user index of each view
    items: torch.Tensor  # (V, H) history movie indices
    ratings: torch.Tensor  # (V, H) history stars
    mask: torch.Tensor  # (V, H) True for real history entries
    target_view: np.ndarray  # (T,) which view each target belongs to
    target_movie: np.ndarray  # (T,) movie index
    target_rating: np.ndarray  # (T,) stars


def view_batch(
    lists: RatingLists,
    views: Views,
    idx: np.ndarray,
    liked: np.ndarray,
    max_len: int,
    rng: np.random.Generator,
    short_prob: float = 0.0,
    short_max: int = 15,
) -> ViewBatch:
    """The histories and targets of views ``idx``. A history is a window at a random offset over the user's
    entries outside the block (a random subset, since ``lists`` is shuffled), at most ``max_len`` long; with
    probability ``short_prob`` it keeps only 1..``short_max`` entries, so the tower also learns to serve users
    who rated little."""
    user = views.user[idx]
    start = lists.indptr[user]
    n = lists.indptr[user + 1] - start
    block, size = views.block[idx], views.size[idx]
    rest = n - size  # entries outside the block: the history's pool
    steps = np.arange(max(min(int(rest.max(initial=0)), max_len), 1))
    offset = (rng.random(len(idx)) * np.maximum(rest, 1)).astype(np.int64)
    t = (offset[:, None] + steps[None, :]) % np.maximum(rest, 1)[:, None]
    # entries after the block, then wrapping round to those before it
    pos = start[:, None] + ((block + size)[:, None] + t) % np.maximum(n, 1)[:, None]
    mask = steps[None, :] < np.minimum(rest, max_len)[:, None]
    if short_prob > 0:
        short = rng.random(len(idx)) < short_prob
        limit = np.where(short, rng.integers(1, short_max + 1, len(idx)), max_len)
        mask &= steps[None, :] < limit[:, None]
    pos = np.where(mask, pos, 0)
    items = lists.items[pos] if len(lists.items) else np.zeros(pos.shape, np.int64)
    ratings = lists.ratings[pos] if len(lists.ratings) else np.zeros(pos.shape, np.float32)

    first = np.concatenate([[0], np.cumsum(size)])[:-1]
    view_of = np.repeat(np.arange(len(idx), dtype=np.int64), size)
    entry = np.repeat(start + block - first, size) + np.arange(int(size.sum()), dtype=np.int64)
    keep = liked[entry]
    entry, view_of = entry[keep], view_of[keep]
    return ViewBatch(user, torch.from_numpy(items), torch.from_numpy(ratings.astype(np.float32)),
                     torch.from_numpy(mask), view_of, lists.items[entry], lists.ratings[entry])  # fmt: skip


def at_least(steps: list[np.ndarray], n: int) -> list[np.ndarray]:
    """``steps`` with any step of fewer than ``n`` views joined to the next one (the last to the one before):
    every process must get at least one view of every step."""
    out: list[np.ndarray] = []
    for part in steps:
        if out and len(out[-1]) < n:
            out[-1] = np.concatenate([out[-1], part])
        else:
            out.append(part)
    if len(out) > 1 and len(out[-1]) < n:
        out[-2:] = [np.concatenate(out[-2:])]
    if out and len(out[-1]) < n:
        raise ValueError(f"an epoch has {len(out[-1])} views, fewer than the {n} training processes")
    return out


def epoch_batches(
    lists: RatingLists,
    liked_fn,
    targets_per_view: int,
    targets_per_step: int,
    max_len: int,
    rng: np.random.Generator,
    short_prob: float = 0.0,
    rank: int = 0,
    world: int = 1,
) -> tuple[int, Iterator[ViewBatch]]:
    """One epoch: ``(n_steps, batches)``. ``liked_fn(ratings) -> bool mask`` says which ratings are targets.
    With ``world`` > 1 every process draws the same views and steps (same ``rng`` state) and trains on its
    own share of each step's views, so all processes take the same number of steps."""
    shuffled = lists.shuffled(rng)
    liked = liked_fn(shuffled.ratings)
    views = make_views(shuffled, liked, targets_per_view)
    steps = step_slices(views, rng.permutation(len(views)), targets_per_step)
    if world > 1:
        steps = at_least(steps, world)
    # the windows and short histories are drawn from a stream of each process's own, seeded from the shared
    # one, so that the shared stream (next epoch's order) stays the same in every process
    own = np.random.default_rng([int(rng.integers(1 << 62)), rank])

    def batches() -> Iterator[ViewBatch]:
        for part in steps:
            share = part[rank::world] if world > 1 else part
            yield view_batch(shuffled, views, share, liked, max_len, own, short_prob)

    return len(steps), batches()
