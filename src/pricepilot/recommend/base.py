"""The recommender protocol and the typed interaction log every recommender fits on.

An :class:`Interactions` record holds one row per (user, item, time) event with users and items
already mapped to dense indices ``0 .. n_users - 1`` and ``0 .. n_items - 1``. A :class:`Recommender`
fits on one and returns, for a batch of users, the top-``k`` items and their scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from pricepilot.types import FloatArray, IntArray


def _index_array(name: str, value: ArrayLike, bound: int) -> IntArray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= bound):
        raise ValueError(f"{name} must lie in 0..{bound - 1}, got {arr.min()}..{arr.max()}")
    return arr


@dataclass(frozen=True, slots=True)
class Interactions:
    """Implicit feedback: who interacted with what, and when.

    Attributes
    ----------
    users, items : ndarray of shape (n,), int64 dense indices
    timestamps : ndarray of shape (n,), int64 (any monotone unit: epoch seconds, days)
    n_users, n_items : sizes of the index spaces (users or items may have no rows)

    Rows are kept in the order given; within one timestamp that order breaks ties.
    """

    users: IntArray
    items: IntArray
    timestamps: IntArray
    n_users: int
    n_items: int

    def __post_init__(self) -> None:
        if self.n_users < 1 or self.n_items < 1:
            raise ValueError(f"need n_users and n_items >= 1, got {self.n_users} and {self.n_items}")
        users = _index_array("users", self.users, self.n_users)
        items = _index_array("items", self.items, self.n_items)
        times = np.asarray(self.timestamps).astype(np.int64, copy=False)
        if not users.shape == items.shape == times.shape:
            raise ValueError(
                f"users, items and timestamps must have one shape, got {users.shape}, {items.shape}, "
                f"{times.shape}"
            )
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "timestamps", times)

    @property
    def n(self) -> int:
        return int(self.users.size)

    def take(self, rows: IntArray) -> Interactions:
        """The same index spaces restricted to ``rows``."""
        return Interactions(
            self.users[rows], self.items[rows], self.timestamps[rows], self.n_users, self.n_items
        )

    def chronological(self) -> IntArray:
        """Row order sorted by user, then timestamp, then original position (stable)."""
        return np.lexsort((np.arange(self.n), self.timestamps, self.users)).astype(np.int64)

    def user_item_matrix(self) -> sparse.csr_matrix:
        """Interaction counts as a CSR matrix of shape (n_users, n_items), float32."""
        data = np.ones(self.n, dtype=np.float32)
        m = sparse.csr_matrix((data, (self.users, self.items)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        return m

    def sequences(self) -> list[IntArray]:
        """Each user's items in time order: a list of length n_users."""
        order = self.chronological()
        users, items = self.users[order], self.items[order]
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        return [items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, user: str, item: str, timestamp: str
    ) -> tuple[Interactions, NDArray[np.object_], NDArray[np.object_]]:
        """Build from a frame with raw ids; returns the record and the raw user and item ids, so that
        ``user_ids[i]`` is the id of user index ``i``. Datetime columns become epoch seconds."""
        missing = [c for c in (user, item, timestamp) if c not in frame.columns]
        if missing:
            raise KeyError(f"columns {missing} not in frame (has {list(frame.columns)})")
        user_codes, user_ids = pd.factorize(frame[user], sort=True)
        item_codes, item_ids = pd.factorize(frame[item], sort=True)
        times = frame[timestamp]
        if pd.api.types.is_datetime64_any_dtype(times):
            ts = (times - pd.Timestamp(0)).dt.total_seconds().to_numpy().astype(np.int64)
        else:
            ts = times.to_numpy().astype(np.int64)
        record = cls(
            user_codes.astype(np.int64), item_codes.astype(np.int64), ts, len(user_ids), len(item_ids)
        )
        return record, np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object)


class Recommender(Protocol):
    """Candidate generation: fit on interactions, then the top-``k`` items for users."""

    def fit(self, interactions: Interactions) -> Self: ...

    def candidates(self, users: IntArray, k: int, exclude_seen: bool = True) -> tuple[IntArray, FloatArray]:
        """Top-``k`` items for each user, best first: items and scores of shape (n_users, k).
        With ``exclude_seen``, items the user interacted with in the fitted data are never returned."""
        ...


def top_k(
    scores: FloatArray, k: int, seen: sparse.csr_matrix | None = None, rows: IntArray | None = None
) -> tuple[IntArray, FloatArray]:
    """The ``k`` best columns of each row of ``scores`` (shape (n, n_items)), best first.

    ``seen`` (CSR, shape (n_users, n_items)) with ``rows`` (the user of each score row) masks items
    already seen to ``-inf``; ties are broken towards the lower item index.
    """
    n_items = scores.shape[1]
    if not 1 <= k <= n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    s = np.array(scores, dtype=np.float64, copy=True)
    if seen is not None:
        if rows is None:
            raise ValueError("masking seen items needs rows (the user of each score row)")
        sub = seen[rows].tocoo()
        s[sub.row, sub.col] = -np.inf
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    items = np.take_along_axis(part, order, axis=1).astype(np.int64)
    return items, np.take_along_axis(s, items, axis=1)


def check_fitted(model: object, attribute: str) -> None:
    """Raise a clear error when ``model`` has not been fitted (``attribute`` is unset)."""
    if getattr(model, attribute, None) is None:
        raise RuntimeError(f"{type(model).__name__} is not fitted yet: call fit(interactions) first")
