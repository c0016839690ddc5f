"""Offers as served, as records checked on construction: one :class:`Offer`, or the offers of one
request or group of requests as the columns of an :class:`OfferBatch` (what the service logs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pricepilot.store.engine import StoreError
from pricepilot.types import FloatArray, IntArray


def check_finite(owner: str, name: str, value: float) -> None:
    """A :class:`StoreError` naming ``owner``'s field ``name`` when ``value`` is not finite."""
    if not math.isfinite(value):
        raise StoreError(f"{owner}: {name} must be a finite number, got {value}")


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as served, after the guardrails.

    Attributes
    ----------
    offer_id : str, unique, 1 to 128 characters
    visitor_id, item_id : int, pseudonymous visitor and item
    features : tuple of float, shape (d,), what the policy saw; named by ``feature_names``
    action : int, index in the price ladder, ``0 <= action < n_actions``
    n_actions : int, the ladder's length
    price, list_price : float, in the item's currency; ``unit_cost`` optional
    propensity : float in (0, 1], probability the policy gave ``action``
    policy_version : str, for example ``'lints@3'``
    created_at : datetime, timezone-aware (None: now)
    """

    offer_id: str
    visitor_id: int
    item_id: int
    features: tuple[float, ...]
    feature_names: tuple[str, ...]
    action: int
    n_actions: int
    price: float
    list_price: float
    propensity: float
    policy_version: str
    unit_cost: float | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        who = f"offer {self.offer_id!r}"
        if not isinstance(self.offer_id, str) or not 0 < len(self.offer_id) <= 128:
            raise StoreError(f"offer_id must be a string of 1 to 128 characters, got {self.offer_id!r}")
        for name in ("visitor_id", "item_id", "action", "n_actions"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("price", "list_price", "propensity"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.unit_cost is not None:
            object.__setattr__(self, "unit_cost", float(self.unit_cost))
        object.__setattr__(self, "features", tuple(float(x) for x in self.features))
        object.__setattr__(self, "feature_names", tuple(str(x) for x in self.feature_names))
        if len(self.features) != len(self.feature_names):
            raise StoreError(f"{who}: {len(self.features)} features but {len(self.feature_names)} names")
        for name, value in zip(self.feature_names, self.features, strict=True):
            check_finite(who, f"feature {name!r}", value)
        if not 0 <= self.action < self.n_actions:
            raise StoreError(f"{who}: action {self.action} is outside 0..{self.n_actions - 1}")
        if not (math.isfinite(self.propensity) and 0 < self.propensity <= 1):
            raise StoreError(f"{who}: propensity must be in (0, 1], got {self.propensity}")
        for name in ("price", "list_price"):
            check_finite(who, name, getattr(self, name))
        if self.price < 0 or self.list_price <= 0:
            raise StoreError(
                f"{who}: need price >= 0 and list_price > 0, got {self.price}, {self.list_price}"
            )
        if self.unit_cost is not None:
            check_finite(who, "unit_cost", self.unit_cost)
        if not self.policy_version:
            raise StoreError(f"{who}: policy_version is empty")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise StoreError(f"{who}: created_at {self.created_at} has no timezone")


@dataclass(frozen=True, slots=True)
class OfferBatch:
    """``n`` offers served together (one request), as columns; checked as :class:`Offer` is, at once.

    Attributes
    ----------
    offer_ids : tuple of n str, unique, 1 to 128 characters each
    visitor_ids, item_ids : ndarray of shape (n,), int64
    features : ndarray of shape (n, d), float64, what the policy saw; named by ``feature_names``
    actions : ndarray of shape (n,), int64, ladder indices, ``0 <= action < n_actions``
    n_actions : int, the ladder's length
    prices, list_prices : ndarray of shape (n,), float64, in the items' currency
    unit_costs : ndarray of shape (n,), float64 (NaN: unknown)
    propensities : ndarray of shape (n,), float64 in (0, 1]
    policy_version : str
    created_at : datetime, timezone-aware (None: when logged)
    """

    offer_ids: tuple[str, ...]
    visitor_ids: IntArray
    item_ids: IntArray
    features: FloatArray
    feature_names: tuple[str, ...]
    actions: IntArray
    n_actions: int
    prices: FloatArray
    list_prices: FloatArray
    unit_costs: FloatArray
    propensities: FloatArray
    policy_version: str
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        n = len(self.offer_ids)
        ids = self.offer_ids
        lengths = list(map(len, ids)) if set(map(type, ids)) <= {str} else None  # the usual case
        if lengths is None or (n and not 0 < min(lengths) <= max(lengths) <= 128):
            bad_id = [i for i in ids if not isinstance(i, str) or not 0 < len(i) <= 128]
            if bad_id:
                raise StoreError(f"offer_id must be a string of 1 to 128 characters, got {bad_id[0]!r}")
        if len(set(ids)) != n:
            raise StoreError("offer ids repeat within the batch")
        if self.features.shape != (n, len(self.feature_names)):
            raise StoreError(
                f"features of shape {self.features.shape}, expected ({n}, {len(self.feature_names)}) "
                f"for {n} offers and features {list(self.feature_names)}"
            )
        for name in (
            "visitor_ids",
            "item_ids",
            "actions",
            "prices",
            "list_prices",
            "unit_costs",
            "propensities",
        ):
            value = getattr(self, name)
            shape = value.shape if isinstance(value, np.ndarray) else np.shape(value)
            if shape != (n,):
                raise StoreError(f"{name} of shape {shape}, expected ({n},)")
        if n and not self._plainly_valid():
            self._check_values()
        if not self.policy_version:
            raise StoreError("policy_version is empty")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise StoreError(f"created_at {self.created_at} has no timezone")

    def _plainly_valid(self) -> bool:
        """Whether every value passes :meth:`_check_values`, from a few whole-array reductions (a
        batch's cost is numpy's per-call overhead, not its rows); when not, :meth:`_check_values`
        finds the offer to name."""
        lowest, highest = np.minimum.reduce, np.maximum.reduce
        p, price, list_price = self.propensities, self.prices, self.list_prices
        return bool(
            np.isfinite(self.features).all()
            and 0 <= lowest(self.actions) <= highest(self.actions) < self.n_actions
            and 0 < lowest(p) <= highest(p) <= 1  # NaN compares False
            and 0 <= lowest(price) <= highest(price) < math.inf
            and 0 < lowest(list_price) <= highest(list_price) < math.inf
            and not np.isinf(self.unit_costs).any()
        )

    def _check_values(self) -> None:
        """A :class:`StoreError` naming the first offer whose value is out of range."""
        p, price, list_price = self.propensities, self.prices, self.list_prices
        checks = (
            (np.isfinite(self.features).all(axis=1), "features must be finite numbers"),
            (
                (self.actions >= 0) & (self.actions < self.n_actions),
                f"action outside 0..{self.n_actions - 1}",
            ),
            ((p > 0) & (p <= 1), "propensity must be in (0, 1]"),
            (np.isfinite(price) & (price >= 0), "price must be a finite number >= 0"),
            (np.isfinite(list_price) & (list_price > 0), "list_price must be finite and > 0"),
            (~np.isinf(self.unit_costs), "unit_cost must be a finite number (NaN: unknown)"),
        )
        for ok, what in checks:
            if not ok.all():
                raise StoreError(f"offer {self.offer_ids[int(np.argmin(ok))]!r}: {what}")

    @property
    def n(self) -> int:
        return len(self.offer_ids)
