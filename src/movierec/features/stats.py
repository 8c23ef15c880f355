"""Grouped statistics over integer keys, in one pass of ``np.bincount`` each."""

from __future__ import annotations

import numpy as np


def grouped_moments(key: np.ndarray, value: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and population standard deviation of ``value`` per ``key`` in ``0..n-1``.

    ``key``: ``(m,)`` ints; ``value``: ``(m,)``. Returns three ``(n,)`` float64 arrays; mean and std are 0
    where a key has no values.
    """
    v = value.astype(np.float64)
    count = np.bincount(key, minlength=n).astype(np.float64)
    total = np.bincount(key, v, minlength=n)
    mean = np.divide(total, count, out=np.zeros(n), where=count > 0)
    # second pass around the mean: numerically safer than E[x^2] - E[x]^2
    dev = v - mean[key]
    var = np.divide(np.bincount(key, dev * dev, minlength=n), count, out=np.zeros(n), where=count > 0)
    return count, mean, np.sqrt(var)


def grouped_min_max(key: np.ndarray, value: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of ``value`` per key, ``(n,)`` each; NaN where a key has no values."""
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, key, value)
    np.maximum.at(hi, key, value)
    lo[np.isinf(lo)] = np.nan
    hi[np.isinf(hi)] = np.nan
    return lo, hi
