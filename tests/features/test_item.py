from __future__ import annotations

import numpy as np
import pytest

from pricepilot.data.events import EventBatch
from pricepilot.features import ITEM_COLUMNS, item_features
from tests.features.conftest import AS_OF, LIST_PRICES


def test_item_features_are_exact(events: EventBatch) -> None:
    f = item_features(events, AS_OF, LIST_PRICES, categories={"milk": "dairy", "bread": "dairy"})
    assert list(f.columns) == list(ITEM_COLUMNS)
    assert f.index.tolist() == ["bread", "jam", "milk"]
    milk, bread, jam = f.loc["milk"], f.loc["bread"], f.loc["jam"]
    assert (milk["purchases"], milk["units"], milk["buyers"], milk["views"]) == (2, 5, 2, 2)
    assert milk["mean_price_paid"] == pytest.approx((2 * 1.0 + 3 * 0.8) / 5)
    assert milk["discount_depth"] == pytest.approx(0.12)
    assert milk["conversion"] == 1.0
    assert (milk["reviews"], milk["mean_rating"]) == (1, 2.0)
    assert (bread["purchases"], bread["buyers"], bread["conversion"]) == (2, 1, 2.0)
    assert bread["mean_price_paid"] == pytest.approx(1.75)
    assert milk["popularity"] == bread["popularity"] == 0.5
    assert (jam["purchases"], jam["popularity"], jam["conversion"], jam["views"]) == (0, 0, 0, 1)
    assert np.isnan(jam["mean_price_paid"])
    assert np.isnan(jam["mean_rating"])
    # categories: dairy = code 0 (the only name), jam unknown = -1; price level within the category
    assert (milk["category"], bread["category"], jam["category"]) == (0, 0, -1)
    assert milk["price_level"] == pytest.approx(1.0 / 1.5)
    assert bread["price_level"] == pytest.approx(2.0 / 1.5)
    assert jam["price_level"] == 1.0


def test_item_price_level_without_categories(events: EventBatch) -> None:
    f = item_features(events, AS_OF, LIST_PRICES)
    np.testing.assert_allclose(f["price_level"], [1.0, 1.5, 0.5])  # bread, jam, milk over median 2.0
    assert (f["category"] == -1).all()
    observed = item_features(events, AS_OF)  # list = highest price paid; jam never bought: no list
    assert observed.loc["milk", "list_price"] == 1.0
    assert np.isnan(observed["list_price"]["jam"])
