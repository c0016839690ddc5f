"""Prices served per item and day: the memory behind the daily-change rule and the 30-day reference."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pricepilot.types import BoolArray, FloatArray, IntArray


def select(mask: BoolArray, a: ArrayLike, b: NDArray[Any]) -> NDArray[Any]:
    """``np.where(mask, a, b)`` where ``b`` already has the result's shape and dtype: a copy of ``b``
    with ``a`` written where ``mask`` holds. About three times faster than ``np.where`` on arrays of a
    few dozen elements, where numpy's per-call overhead is all the cost."""
    out = b.copy()
    np.copyto(out, a, where=mask)
    return out


def _distinct(ids: IntArray) -> bool:
    """Whether no id repeats in ``ids`` (shape (n,)), by a sort."""
    ordered = ids.copy()
    ordered.sort()
    return not np.count_nonzero(ordered[1:] == ordered[:-1])


def _per_item(ids: IntArray, served: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
    """The distinct ``ids`` (in no set order), and the lowest and the last of ``served`` for each
    (shapes (n,) in, (m,) out; ``served`` finite): ``ids, served, served`` when no id repeats.

    A few dozen rows take a dict: numpy's sort and ``reduceat`` cost more in calls than the rows do.
    """
    if ids.size > 32:
        if _distinct(ids):
            return ids, served, served
    else:
        keys, prices = ids.tolist(), served.tolist()
        latest = dict(zip(keys, prices, strict=True))  # the last price of each id, ids as first seen
        m = len(latest)
        if m == ids.size:
            return ids, served, served
        if 0.0 not in prices:  # (a zero might be -0.0: numpy's minimum decides which is lowest)
            lowest = latest.copy()
            for item, price in zip(keys, prices, strict=True):
                if price < lowest[item]:
                    lowest[item] = price
            return (
                np.fromiter(latest, np.int64, m),
                np.fromiter(lowest.values(), np.float64, m),
                np.fromiter(latest.values(), np.float64, m),
            )
    order = np.argsort(ids, kind="stable")  # equal ids keep their order: the last is the latest
    ids, served = ids[order], served[order]
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    low = np.minimum.reduceat(served, starts)
    last = served[np.append(starts[1:], ids.size) - 1]  # the last price of each item in the batch
    return ids[starts], low, last


def _filled(default: FloatArray | float, shape: tuple[int, ...]) -> FloatArray:
    """``default`` as an array of ``shape``: itself when it is one already, else filled with it."""
    if isinstance(default, np.ndarray):
        return default
    out = np.empty(shape)
    out.fill(default)
    return out


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
        # whether the arrays follow the invariants of _follows_invariants (always, unless from_dict
        # read arrays that do not); then the last price needs the ring only for past days
        self.consistent_ = True
        # answers of last_and_lowest for one (day, window), filled row by row as items are asked for:
        # column i holds the last and the lowest price of item ids_[i], NaN where none (see _memo_for)
        self._memo_key: tuple[int, int] | None = None
        self._memo = np.zeros((2, 0))
        self._memo_filled = np.zeros(0, dtype=bool)

    def _rows(self, items: ArrayLike) -> tuple[IntArray, BoolArray]:
        """Rows of ``items`` (flattened) and whether each is known.

        Unknown ids get a valid row (a neighbour's) that every caller masks with ``known``. The history
        must hold at least one item.
        """
        ids = np.asarray(items, dtype=np.int64).reshape(-1)
        # searching all ids but the last gives positions clipped to the last row in one call
        rows = self.ids_[:-1].searchsorted(ids)
        return rows, self.ids_.take(rows) == ids

    def _find(self, items: ArrayLike) -> tuple[IntArray, BoolArray | None]:
        """:meth:`_rows`, with ``None`` for which are known when all are (the usual case, which then
        needs no masking)."""
        rows, known = self._rows(items)
        return rows, None if np.count_nonzero(known) == known.size else known

    def last_prices(self, items: ArrayLike, day: int) -> FloatArray:
        """Last price served strictly before ``day``, per item: shape of ``items``, NaN where none."""
        if self.ids_.size == 0:
            return np.full(np.shape(items), np.nan)
        return self._last(*self._find(items), day, np.nan).reshape(np.shape(items))

    def lowest_prices(self, items: ArrayLike, day: int, window: int = 30) -> FloatArray:
        """Lowest price served on days ``day - window .. day - 1``: shape of ``items``, NaN where none."""
        self._check_window(window)
        if self.ids_.size == 0:
            return np.full(np.shape(items), np.nan)
        return self._lowest(*self._find(items), day, window, np.nan).reshape(np.shape(items))

    def last_and_lowest(
        self, items: ArrayLike, day: int, window: int, default: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`last_prices` and :meth:`lowest_prices` of a batch, sharing the search for its items.

        Parameters
        ----------
        items : int array of shape (n,), item ids.
        day, window : int, as for :meth:`last_prices` and :meth:`lowest_prices`.
        default : ndarray of shape (n,), the answer (currency) for an item with no such price,
            instead of NaN (for example its list price).

        Returns
        -------
        last, lowest : ndarray of shape (n,), currency.
        """
        self._check_window(window)
        if self.ids_.size == 0:
            return default.astype(np.float64), default.astype(np.float64)
        rows, known = self._find(items)
        if not self.consistent_:
            return self._last(rows, known, day, default), self._lowest(rows, known, day, window, default)
        both = self._memo_for(rows, day, window)  # (2, n), NaN where none
        missing = np.isnan(both)
        if known is not None:
            missing |= ~known
        np.copyto(both, default, where=missing)
        return both[0], both[1]

    def _memo_for(self, rows: IntArray, day: int, window: int) -> FloatArray:
        """Last and lowest price of each row for ``day`` and ``window``, NaN where none: a new array
        of shape (2, n).

        A service asks for the same day over and over, for items it has asked for before, so the
        answers are kept per row for one (day, window) and each row is computed once. Recording
        prices for that same day changes none of them: the last price and the window look only at
        earlier days, and the day recorded evicts from the ring a day at least ``keep_days`` back,
        which is before the window when ``keep_days > window``. :meth:`record` forgets the answers
        otherwise (another day, or ``keep_days == window``) and :meth:`_add_items` gives new items
        empty rows. Only used on histories following the invariants (``consistent_``).
        """
        if self._memo_key != (day, window):
            self._memo_key = (day, window)
            self._memo = np.empty((2, self.ids_.size))
            self._memo_filled = np.zeros(self.ids_.size, dtype=bool)
        todo = ~self._memo_filled.take(rows)
        if np.count_nonzero(todo):
            new = rows[todo]
            self._memo[0, new] = self._last(new, None, day, np.nan)
            self._memo[1, new] = self._lowest(new, None, day, window, np.nan)
            self._memo_filled[new] = True
        return self._memo.take(rows, axis=1)

    def _check_window(self, window: int) -> None:
        if window > self.keep_days:
            raise ValueError(f"window {window} is longer than this history keeps ({self.keep_days} days)")

    def _lowest(
        self, rows: IntArray, known: BoolArray | None, day: int, window: int, default: FloatArray | float
    ) -> FloatArray:
        """Lowest price of days ``day - window .. day - 1`` of each row (``default`` where none)."""
        days = self.days_.take(rows, axis=0)  # a copy, shape (n, keep_days)
        first = max(day - window, 0)
        # not first <= d < day, as one comparison: d - first wraps to a huge unsigned number if d < first
        np.subtract(days, first, out=days)
        outside = days.view(np.uint64) >= max(day - first, 0)
        lowest = self.lowest_.take(rows, axis=0)
        np.copyto(lowest, np.inf, where=outside)
        low = np.minimum.reduce(lowest, axis=1)
        found = np.isfinite(low)
        if known is not None:
            found &= known
        return select(found, low, _filled(default, low.shape))

    def _last(
        self, rows: IntArray, known: BoolArray | None, day: int, default: FloatArray | float
    ) -> FloatArray:
        """Last price strictly before ``day`` of each row (``default`` where none or not ``known``;
        ``known=None``: every row is a known item).

        The last price before ``day`` is the one of the item's latest day if that is before ``day``,
        else the one of the day before its latest (see the invariants in :meth:`_follows_invariants`).
        Only a query for a day at or before that day before (a past day) needs the ring.
        """
        if not self.consistent_:
            return self._last_from_ring(rows, known, day, default)
        # (day, last price) of the latest day where it is before ``day``, else of the day before
        newest_first = self.before_.take(rows, axis=0)
        latest = self.latest_.take(rows, axis=0)
        np.copyto(newest_first, latest, where=latest[:, :1] < day)
        served_day = newest_first[:, 0]
        found = served_day >= 0  # -1: no such day
        if known is not None:
            found &= known
        last = select(found, newest_first[:, 1], _filled(default, found.shape))
        older = served_day >= day  # the day before the latest is not before ``day`` either
        if np.count_nonzero(older):  # a query for a past day: scan the ring for those rows
            if known is not None:
                older &= known
            sub = default if np.ndim(default) == 0 else np.asarray(default)[older]
            last[older] = self._last_from_ring(rows[older], None, day, sub)
        return last

    def _last_from_ring(
        self, rows: IntArray, known: BoolArray | None, day: int, default: FloatArray | float
    ) -> FloatArray:
        """:meth:`_last` by scanning every day kept, for histories that may not follow the invariants."""
        ring = np.where(self.days_[rows] < day, self.days_[rows], -1)  # -1 (empty) never wins below
        best = ring.argmax(axis=1)
        day_ring = ring[np.arange(rows.size), best].astype(np.float64)
        price = self.last_[rows, best]
        for older in (self.before_[rows], self.latest_[rows]):
            newer = (older[:, 0] >= 0) & (older[:, 0] < day) & (older[:, 0] > day_ring)
            day_ring = np.where(newer, older[:, 0], day_ring)
            price = np.where(newer, older[:, 1], price)
        found = day_ring >= 0
        if known is not None:
            found &= known
        last = np.where(found, price, np.nan)
        return np.where(np.isnan(last), default, last)

    def last_price(self, item: int, day: int) -> float:
        """Last price of ``item`` served before ``day`` (currency), NaN if none."""
        return float(self.last_prices([item], day)[0])

    def lowest_price(self, item: int, day: int, window: int = 30) -> float:
        """Lowest price of ``item`` served in the ``window`` days before ``day`` (currency), NaN if none."""
        return float(self.lowest_prices([item], day, window)[0])

    def record(self, items: ArrayLike, prices: ArrayLike, day: int) -> None:
        """Add the prices served on ``day`` (shape (n,), currency) for ``items`` (shape (n,)), in order."""
        ids = np.asarray(items, dtype=np.int64).reshape(-1)
        served = np.asarray(prices, dtype=np.float64).reshape(-1)
        if ids.shape != served.shape or day < 0 or np.count_nonzero(np.isfinite(served)) < served.size:
            raise ValueError(f"record needs equal-length items and finite prices and a day >= 0, got {day}")
        if ids.size == 0:
            return
        if self._memo_key is not None and (
            day != self._memo_key[0] or self.keep_days <= self._memo_key[1] or not self.consistent_
        ):
            self._memo_key = None  # these prices may change the answers kept (see _memo_for)
        ids, low, last = _per_item(ids, served)  # each item once
        added: IntArray | None = None  # items new to the history (taken out again if the day is refused)
        if self.ids_.size == 0:
            added = np.sort(ids)
            self._add_items(added)
            rows = self._rows(ids)[0]
        else:
            rows, known = self._rows(ids)
            if np.count_nonzero(known) < known.size:
                added = np.sort(ids[~known])
                self._add_items(added)
                rows = self._rows(ids)[0]
        on_day = rows * 2  # flat positions of (row, 0) in latest_ and before_: the day; +1: the price
        on_price = on_day + 1
        at = rows * self.keep_days  # flat positions of (row, day % keep_days) in the ring's arrays
        at += day % self.keep_days
        latest_day = self.latest_.take(on_day)
        if not self.consistent_ or np.count_nonzero(latest_day != day):
            if np.count_nonzero(latest_day > day):
                item = int(ids[latest_day > day].min())
                if added is not None:  # nothing of a refused batch stays
                    self._remove_items(added)
                raise ValueError(
                    f"item {item} already has prices for a day after {day}; days must not go back"
                )
            moved = (latest_day >= 0) & (latest_day < day)  # the latest day becomes the day before
            n_moved = np.count_nonzero(moved)
            if n_moved == moved.size:
                self.before_.put(on_day, latest_day)
                self.before_.put(on_price, self.latest_.take(on_price))
            elif n_moved:
                self.before_[rows[moved]] = self.latest_[rows[moved]]
            self.latest_.put(on_day, day)
            same = self.days_.take(at) == day  # the item already has prices for this day: keep the lowest
            if np.count_nonzero(same):
                low = select(same, np.minimum(self.lowest_.take(at), low), low)
            self.days_.put(at, day)
        else:
            # every item's latest day is this day, which the ring holds (see _follows_invariants): a
            # service records the same day over and over. Keep the lowest of the day's prices.
            low = np.minimum(self.lowest_.take(at), low)
        self.latest_.put(on_price, last)
        self.lowest_.put(at, low)
        self.last_.put(at, last)

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
        if self._memo_key is not None:  # new items have no prices yet: nothing before any day
            self._memo = np.insert(self._memo, pos, np.nan, axis=1)
            self._memo_filled = np.insert(self._memo_filled, pos, True)

    def _remove_items(self, gone: IntArray) -> None:
        """Take out the rows of items ``gone`` (added by a :meth:`record` that was then refused)."""
        pos = np.searchsorted(self.ids_, gone)
        self.ids_ = np.delete(self.ids_, pos)
        for name in ("days_", "lowest_", "last_", "latest_", "before_"):
            setattr(self, name, np.delete(getattr(self, name), pos, axis=0))
        self._memo_key = None  # the cached answers are rebuilt on the next lookup

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
        history.consistent_ = history._follows_invariants()
        return history

    def _follows_invariants(self) -> bool:
        """Whether every item's arrays are as :meth:`record` leaves them, which :meth:`_last` relies on.

        Per item, with ``L`` its latest day and ``B`` the day before (-1: none): ``L`` and ``B`` are whole
        numbers, ``-1 <= B < L`` or ``B == L == -1``; each day ``d`` of the ring is -1 (empty) or sits in
        column ``d % keep_days``; the ring holds ``L`` with the latest price, and ``B``, if it still
        holds it, with the price before; every day in the ring is at most ``L`` and, if less, at most
        ``B``; the latest and the before prices are finite where their day is not -1.
        """
        k, m = self.keep_days, self.ids_.size
        if m == 0:
            return True
        rows = np.arange(m)
        latest, before, days = self.latest_[:, 0], self.before_[:, 0], self.days_
        ok = (latest == np.floor(latest)) & (before == np.floor(before)) & (before >= -1)
        ok &= (before < latest) | ((before == -1) & (latest == -1))
        ok &= np.isfinite(self.latest_[:, 1]) | (latest == -1)
        ok &= np.isfinite(self.before_[:, 1]) | (before == -1)
        if not ok.all():
            return False
        at_latest = latest.astype(np.int64) % k
        has_latest = (days[rows, at_latest] == latest) & (self.last_[rows, at_latest] == self.latest_[:, 1])
        ok &= has_latest | (latest == -1)
        at_before = before.astype(np.int64) % k
        holds_before = days[rows, at_before] == before
        ok &= ~holds_before | (before == -1) | (self.last_[rows, at_before] == self.before_[:, 1])
        in_place = (days >= 0) & (days % k == np.arange(k))  # day d sits in column d % k
        ok &= (in_place | (days == -1)).all(axis=1)
        ok &= (days <= latest[:, None]).all(axis=1)
        ok &= ((days == latest[:, None]) | (days <= before[:, None])).all(axis=1)
        return bool(ok.all())
