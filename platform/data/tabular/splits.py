"""Row splits: seeded random, time-based, per-user leave-last-out and user-level.

Each function returns ``{"train": idx, "val": idx, "test": idx}`` (sorted int64
row indices, disjoint, covering every row).
"""

from __future__ import annotations

import numpy as np

__all__ = ["leave_last_out_split", "make_split", "random_split", "time_split", "user_split"]

Fractions = tuple[float, float, float]


def _check(fractions: Fractions) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    return f


def _cut(order: np.ndarray, fractions: Fractions) -> dict[str, np.ndarray]:
    f = _check(fractions)
    n = len(order)
    a = round(n * f[0])
    b = a + round(n * f[1])
    return {"train": np.sort(order[:a]), "val": np.sort(order[a:b]), "test": np.sort(order[b:])}


def random_split(n: int, seed: int = 0, fractions: Fractions = (0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """Seeded random permutation cut 8:1:1 (by default)."""
    return _cut(np.random.default_rng(seed).permutation(n), fractions)


def time_split(timestamps: np.ndarray, fractions: Fractions = (0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """Oldest rows train, then val, newest test (stable order on ties)."""
    return _cut(np.argsort(np.asarray(timestamps), kind="stable"), fractions)


def leave_last_out_split(users: np.ndarray, timestamps: np.ndarray) -> dict[str, np.ndarray]:
    """Per user: the latest row is test, the one before it val, the rest train.

    Users with fewer than 3 rows keep them all in train. Ties in time are broken
    by row order (the later row counts as more recent).
    """
    users = np.asarray(users)
    n = len(users)
    order = np.lexsort((np.arange(n), np.asarray(timestamps), users))
    u = users[order]
    counts = np.unique(u, return_counts=True)[1]
    ends = np.cumsum(counts)
    size = np.repeat(counts, counts)
    rank_from_end = np.repeat(ends, counts) - 1 - np.arange(n)  # 0 = latest
    test = order[(rank_from_end == 0) & (size >= 3)]
    val = order[(rank_from_end == 1) & (size >= 3)]
    train = order[(rank_from_end >= 2) | (size < 3)]
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def user_split(users: np.ndarray, seed: int = 0, fractions: Fractions = (0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """Users (not rows) are split 8:1:1: no user appears in two splits."""
    uniq, inv = np.unique(np.asarray(users), return_inverse=True)
    parts = _cut(np.random.default_rng(seed).permutation(len(uniq)), fractions)
    which = np.empty(len(uniq), dtype=np.int64)
    for k, name in enumerate(("train", "val", "test")):
        which[parts[name]] = k
    row_part = which[inv]
    return {name: np.flatnonzero(row_part == k) for k, name in enumerate(("train", "val", "test"))}


def make_split(method: str, n: int, *, seed: int = 0, fractions: Fractions = (0.8, 0.1, 0.1),
               users: np.ndarray | None = None, timestamps: np.ndarray | None = None) -> dict[str, np.ndarray]:
    if method == "random":
        return random_split(n, seed, fractions)
    if method == "time":
        return time_split(timestamps, fractions)
    if method == "leave_last_out":
        return leave_last_out_split(users, timestamps)
    if method == "user":
        return user_split(users, seed, fractions)
    raise ValueError(f"unknown split method {method!r}")
