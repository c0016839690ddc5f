"""OfferBatch's checks: the whole-array fast path refuses exactly what the per-offer checks refuse."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pricepilot.store import StoreError
from pricepilot.store.offer_batch import OfferBatch

N = 4


class Label(str):
    """A ``str`` subclass: an offer id all the same."""


def _fields(**change: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "offer_ids": tuple(f"o-{i}" for i in range(N)),
        "visitor_ids": np.full(N, 7, dtype=np.int64),
        "item_ids": np.arange(N, dtype=np.int64),
        "features": np.column_stack([np.arange(N) * 0.5, np.ones(N)]),
        "feature_names": ("recency", "bias"),
        "actions": np.arange(N, dtype=np.int64) % 3,
        "n_actions": 3,
        "prices": np.linspace(0.0, 9.0, N),
        "list_prices": np.full(N, 10.0),
        "unit_costs": np.array([6.0, np.nan, 6.0, 0.0]),
        "propensities": np.array([0.25, 1.0, 0.5, 1e-9]),
        "policy_version": "lints@1",
    }
    return fields | change


def _plain_error(fields: dict[str, Any]) -> str | None:
    """The first offer's error as the per-offer checks word it, or None when every value is fine."""
    ids = fields["offer_ids"]
    bad = [i for i in ids if not isinstance(i, str) or not 0 < len(i) <= 128]
    if bad:
        return f"offer_id must be a string of 1 to 128 characters, got {bad[0]!r}"
    actions, k = fields["actions"], fields["n_actions"]
    p, price, list_price = fields["propensities"], fields["prices"], fields["list_prices"]
    checks = [
        (np.isfinite(fields["features"]).all(axis=1), "features must be finite numbers"),
        ((actions >= 0) & (actions < k), f"action outside 0..{k - 1}"),
        ((p > 0) & (p <= 1), "propensity must be in (0, 1]"),
        (np.isfinite(price) & (price >= 0), "price must be a finite number >= 0"),
        (np.isfinite(list_price) & (list_price > 0), "list_price must be finite and > 0"),
        (~np.isinf(fields["unit_costs"]), "unit_cost must be a finite number (NaN: unknown)"),
    ]
    for ok, what in checks:
        if not ok.all():
            return f"offer {ids[int(np.argmin(ok))]!r}: {what}"
    return None


def _with(name: str, row: int, value: Any) -> dict[str, Any]:
    column = np.array(_fields()[name], copy=True)
    column[row] = value
    return _fields(**{name: column})


CASES = [
    _fields(),
    _fields(features=np.full((N, 2), 1e308)),  # finite, though their sum overflows
    _fields(offer_ids=("a", Label("b"), "c", "d" * 128)),
    _fields(offer_ids=("a", "", "c", "d")),
    _fields(offer_ids=("a", "b", "c", "d" * 129)),
    _fields(offer_ids=("a", 2, "c", "d")),
    *(_with("features", 2, v) for v in (np.nan, math.inf, -math.inf)),
    *(_with("actions", 1, v) for v in (-1, 3, 2)),
    *(_with("propensities", 3, v) for v in (0.0, 1.0 + 1e-12, np.nan, -0.5)),
    *(_with("prices", 0, v) for v in (-1e-300, np.nan, math.inf, 0.0)),
    *(_with("list_prices", 3, v) for v in (0.0, np.nan, math.inf, -math.inf, 1e-300)),
    *(_with("unit_costs", 2, v) for v in (math.inf, -math.inf, -5.0)),
    _fields(propensities=np.full(N, np.nan), prices=np.full(N, -1.0)),  # the first check's message
]


@pytest.mark.parametrize("fields", CASES)
def test_values_are_refused_as_the_per_offer_checks_refuse_them(fields: dict[str, Any]) -> None:
    expected = _plain_error(fields)
    if expected is None:
        assert OfferBatch(**fields).n == N
    else:
        with pytest.raises(StoreError) as caught:
            OfferBatch(**fields)
        assert str(caught.value) == expected


def test_an_empty_batch_is_valid() -> None:
    empty = {
        k: v[:0] if isinstance(v, np.ndarray | tuple) and k != "feature_names" else v
        for k, v in _fields().items()
    }
    assert OfferBatch(**empty).n == 0
