"""Prices served per item and day: the memory behind the daily-change rule and the 30-day reference."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pricepilot.types import BoolArray, FloatArray, IntArray


class PriceHistory:
    """Prices served per item and day, in memory, for the last ``keep_days`` days of each item.

    Per item it keeps a ring of ``keep_days`` days (day number, lowest and last price served that day)
    plus the last price of its latest day and of the day before, so ``last_price`` holds however long
    ago the item was served. Days are integers >= 0 (for example days since 1970-01-01) and must not go
    backwards for an item. Queries answer for days at or after the item's latest recorded day minus
    ``keep_days - window``.
    """

    def __init__(self, keep_days: int = 30) -> None:
        if isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 1:
            raise ValueError(f"PriceHistory keep_days must be an int >= 1, got {keep_days!r}")
        self.keep_days = keep_days
        k = keep_days
        self.ids_: IntArray = np.zeros(0, np.int64)  # sorted item ids; row i of every array below
        self.days_: IntArray = np.full((0, k), -1, np.int64)
        self.lowest_: FloatArray = np.zeros((0, k))
        self.last_: FloatArray = np.zeros((0, k))
        self.latest_: FloatArray = np.zeros((0, 2))  # (day, last price) of the latest day; day -1: none
        self.before_: FloatArray = np.zeros((0, 2))  # (day, last price) of the day before the latest

    def _rows(self, items: ArrayLike) -> tuple[IntArray, BoolArray]:
        ids = np.asarray(items, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids_, ids), max(self.ids_.size - 1, 0))
        known = self.ids_[pos] == ids if self.ids_.size else np.zeros(ids.shape, bool)
        return pos.astype(np.int64), known

    def last_prices(self, items: ArrayLike, day: int) -> FloatArray:
        """Last price served strictly before ``day``, per item: shape of ``items``, NaN where none."""
        rows, known = self._rows(items)
        if self.ids_.size == 0:
            return np.full(rows.shape, np.nan)
        ring = np.where(self.days_[rows] < day, self.days_[rows], -1)  # -1 (empty) never wins below
        best = ring.argmax(axis=1)
        day_ring = ring[np.arange(rows.size), best].astype(np.float64)
        price = self.last_[rows, best]
        for older in (self.before_[rows], self.latest_[rows]):
            newer = (older[:, 0] >= 0) & (older[:, 0] < day) & (older[:, 0] > day_ring)
            day_ring = np.where(newer, older[:, 0], day_ring)
            price = np.where(newer, older[:, 1], price)
        return np.where(known & (day_ring >= 0), price, np.nan)

    def lowest_prices(self, items: ArrayLike, day: int, window: int = 30) -> FloatArray:
        """Lowest price served on days ``day - window .. day - 1``: shape of ``items``, NaN where none."""
        if window > self.keep_days:
            raise ValueError(f"window {window} is longer than this history keeps ({self.keep_days} days)")
        rows, known = self._rows(items)
        if self.ids_.size == 0:
            return np.full(rows.shape, np.nan)
        days = self.days_[rows]
        inside = (days >= max(day - window, 0)) & (days < day) & known[:, None]
        low = np.where(inside, self.lowest_[rows], np.inf).min(axis=1)
        return np.where(np.isfinite(low), low, np.nan)

    def last_price(self, item: int, day: int) -> float:
        """Last price of ``item`` served before ``day`` (currency), NaN if none."""
        return float(self.last_prices([item], day)[0])

    def lowest_price(self, item: int, day: int, window: int = 30) -> float:
        """Lowest price of ``item`` served in the ``window`` days before ``day`` (currency), NaN if none."""
        return float(self.lowest_prices([item], day, window)[0])

    def record(self, items: ArrayLike, prices: ArrayLike, day: int) -> None:
        """Add the prices served on ``day`` (shape (n,), currency) for ``items`` (shape (n,)), in order."""
        ids = np.asarray(items, dtype=np.int64).ravel()
        served = np.asarray(prices, dtype=np.float64).ravel()
        if ids.shape != served.shape or day < 0 or not np.all(np.isfinite(served)):
            raise ValueError(f"record needs equal-length items and finite prices and a day >= 0, got {day}")
        if ids.size == 0:
            return
        uniq, inverse = np.unique(ids, return_inverse=True)
        low = np.full(uniq.size, np.inf)
        np.minimum.at(low, inverse, served)
        _, first_from_end = np.unique(ids[::-1], return_index=True)
        last = served[::-1][first_from_end]  # the last price of each item in the batch
        self._add_items(uniq[~self._rows(uniq)[1]])
        rows, _ = self._rows(uniq)
        latest_day = self.latest_[rows, 0]
        if np.any(latest_day > day):
            item = int(uniq[np.argmax(latest_day > day)])
            raise ValueError(f"item {item} already has prices for a day after {day}; days must not go back")
        moved = (latest_day >= 0) & (latest_day < day)
        self.before_[rows[moved]] = self.latest_[rows[moved]]
        self.latest_[rows] = np.column_stack([np.full(uniq.size, float(day)), last])
        col = day % self.keep_days
        same = self.days_[rows, col] == day
        self.lowest_[rows, col] = np.where(same, np.minimum(self.lowest_[rows, col], low), low)
        self.last_[rows, col] = last
        self.days_[rows, col] = day

    def _add_items(self, new: IntArray) -> None:
        if new.size == 0:
            return
        pos = np.searchsorted(self.ids_, new)
        k = self.keep_days
        self.ids_ = np.insert(self.ids_, pos, new)
        self.days_ = np.insert(self.days_, pos, np.full((new.size, k), -1), axis=0)
        self.lowest_ = np.insert(self.lowest_, pos, np.zeros((new.size, k)), axis=0)
        self.last_ = np.insert(self.last_, pos, np.zeros((new.size, k)), axis=0)
        empty = np.tile([-1.0, 0.0], (new.size, 1))
        self.latest_ = np.insert(self.latest_, pos, empty, axis=0)
        self.before_ = np.insert(self.before_, pos, empty, axis=0)

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict of lists (for a store to persist); :meth:`from_dict` reads it."""
        names = ("ids_", "days_", "lowest_", "last_", "latest_", "before_")
        return {"keep_days": self.keep_days} | {n.rstrip("_"): getattr(self, n).tolist() for n in names}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriceHistory:
        """Rebuild a history written by :meth:`to_dict`."""
        history = cls(int(data["keep_days"]))
        k = history.keep_days
        history.ids_ = np.asarray(data["ids"], dtype=np.int64).reshape(-1)
        m = history.ids_.size
        history.days_ = np.asarray(data["days"], dtype=np.int64).reshape(m, k)
        for name, width in (("lowest", k), ("last", k), ("latest", 2), ("before", 2)):
            setattr(history, name + "_", np.asarray(data[name], dtype=np.float64).reshape(m, width))
        if np.any(np.diff(history.ids_) <= 0):
            raise ValueError("PriceHistory.from_dict: item ids must be sorted and distinct")
        return history
