from __future__ import annotations

import numpy as np
import pytest

from pricepilot.data.events import EventBatch
from pricepilot.features import CONTEXT_COLUMNS, competitor_price_ratio, context_features, time_features


def test_time_features_are_exact() -> None:
    t = time_features(np.array(["2026-01-03 18:00", "2026-04-15 06:30", "2026-07-01 00:00", "2026-10-15"]))
    assert t.shape == (4, 8)
    np.testing.assert_allclose(t["hour_sin"], [-1.0, np.sin(6.5 / 24 * 2 * np.pi), 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(t["hour_cos"], [0.0, np.cos(6.5 / 24 * 2 * np.pi), 1.0, 1.0], atol=1e-12)
    # 2026-01-03 is a Saturday, 2026-04-15 a Wednesday, 2026-07-01 a Wednesday, 2026-10-15 a Thursday
    np.testing.assert_allclose(t["weekday_sin"], np.sin(np.array([5, 2, 2, 3]) * 2 * np.pi / 7))
    assert t["weekend"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert t["season"].tolist() == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(t["year_sin"][0], np.sin(2 * 2 * np.pi / 365.25))
    np.testing.assert_allclose(np.hypot(t["year_sin"], t["year_cos"]), 1.0)


def test_competitor_ratio_uses_lowest_quote_in_force(events: EventBatch) -> None:
    times = [
        "2025-12-31 12:00",
        "2026-01-01 12:00",
        "2026-01-02 12:00",
        "2026-01-03 12:00",
        "2026-01-03 12:00",
    ]
    items = ["milk", "milk", "milk", "milk", "bread"]
    prices = [1.0, 1.0, 1.0, 0.99, 2.0]
    ratio = competitor_price_ratio(events, items, times, prices)
    # none yet; acme 1.10; min(acme 1.10, bolt 0.95); min(acme 0.90, bolt 0.95); bread never quoted
    np.testing.assert_allclose(ratio, [np.nan, 1 / 1.10, 1 / 0.95, 0.99 / 0.90, np.nan])
    c = context_features(times, events, items, prices)
    assert list(c.columns) == list(CONTEXT_COLUMNS)
    np.testing.assert_allclose(c["competitor_ratio"], [1.0, 1 / 1.10, 1 / 0.95, 0.99 / 0.90, 1.0])
    assert c["has_competitor"].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert not c.isna().any().any()
    plain = context_features(times)
    assert (plain["competitor_ratio"] == 1.0).all()
    assert (plain["has_competitor"] == 0.0).all()


def test_context_rejects_bad_input(events: EventBatch) -> None:
    with pytest.raises(ValueError, match="one length"):
        competitor_price_ratio(events, ["milk"], ["2026-01-02", "2026-01-03"], [1.0])
    with pytest.raises(ValueError, match="NaT at position 1"):
        time_features(np.array(["2026-01-02", "NaT"], dtype="datetime64[s]"))
