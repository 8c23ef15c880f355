"""Per-user hold-out splits: every user keeps at least one training rating."""

from __future__ import annotations

import numpy as np

SPLIT_METHODS = ("random", "temporal")


def holdout_counts(n_per_user: np.ndarray, fraction: float) -> np.ndarray:
    """Ratings to hold out per user: ``round(fraction * n)`` (halves up), at most ``n - 1``.

    >>> holdout_counts(np.array([1, 2, 5, 10]), 0.2).tolist()
    [0, 0, 1, 2]
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"hold-out fraction must be in [0, 1), got {fraction}")
    n = np.asarray(n_per_user, dtype=np.int64)
    return np.minimum(np.floor(n * fraction + 0.5).astype(np.int64), np.maximum(n - 1, 0))


def split_per_user(
    user: np.ndarray,
    timestamp: np.ndarray,
    fraction: float,
    method: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Boolean mask, in input order, of the rows held out.

    ``user``: ``(n,)`` non-negative integer user index per rating; ``timestamp``: ``(n,)`` seconds.
    ``random`` holds out a uniformly random subset of each user's ratings; ``temporal`` holds out each user's
    most recent ones (ties broken at random). Deterministic for the generator's seed.
    """
    if method not in SPLIT_METHODS:
        raise ValueError(f"split method must be one of {SPLIT_METHODS}, not {method!r}")
    user = np.asarray(user)
    if len(user) == 0:
        return np.zeros(0, dtype=bool)
    # a random permutation, then a stable sort: grouped by user, shuffled (random) or by time (temporal)
    # within a user, with ties in time broken at random; one int64 sort instead of a multi-key lexsort
    perm = rng.permutation(len(user))
    key = user.astype(np.int64)
    if method == "temporal":
        ts = np.asarray(timestamp, dtype=np.int64)
        key = (key << 32) | (ts - ts.min())  # user index < 2**31 and a time span < 2**32 s fit in 63 bits
    order = perm[np.argsort(key[perm], kind="stable")]
    sorted_user = user[order]
    counts = np.bincount(sorted_user)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(user)) - starts[sorted_user]
    k = holdout_counts(counts, fraction)
    held_sorted = position >= (counts - k)[sorted_user]
    mask = np.empty(len(user), dtype=bool)
    mask[order] = held_sorted
    return mask
