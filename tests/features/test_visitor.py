from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pricepilot.data.events import EventBatch
from pricepilot.features import VISITOR_COLUMNS, VisitorFeatureConfig, feature_matrix, visitor_features
from tests.features.conftest import AS_OF, LIST_PRICES


def test_visitor_aggregates_are_exact(events: EventBatch) -> None:
    f = visitor_features(events, AS_OF, LIST_PRICES)
    assert list(f.columns) == list(VISITOR_COLUMNS)
    assert f.index.tolist() == [1, 2, 3]  # the competitor quotes have no visitor
    one, two, three = f.loc[1], f.loc[2], f.loc[3]
    # visitor 1: last purchase 2026-01-03 12:00 -> 2.5 days before the cut; last event the review
    assert one["recency_days"] == pytest.approx(2.5)
    assert one["last_seen_days"] == pytest.approx(1.0 + 16 / 24)
    assert one["tenure_days"] == pytest.approx(5.0 - 9 / 24)
    assert one["purchases"] == 3  # the purchase after the cut-off is not counted
    assert one["orders"] == 2  # milk and bread share one basket time
    assert one["units"] == 4
    assert one["spend"] == pytest.approx(1.0 * 2 + 1.5 + 2.0)
    assert one["avg_order_value"] == pytest.approx(5.5 / 2)
    assert one["price_ratio"] == pytest.approx((1.0 + 0.75 + 1.0) / 3)
    assert one["coupon_share"] == pytest.approx(1 / 3)
    assert (one["views"], one["carts"], one["reviews"], one["mean_rating"]) == (2, 0, 1, 4.0)
    assert two["recency_days"] == pytest.approx(4.0 - 10 / 24 - 2 / 1440)
    assert (two["purchases"], two["spend"], two["price_ratio"], two["coupon_share"]) == pytest.approx(
        (1, 2.4, 0.8, 1.0)
    )
    assert (two["views"], two["carts"], two["mean_rating"]) == (1, 1, 2.0)
    # visitor 3 only looked: no purchase aggregates
    assert np.isnan(three["recency_days"])
    assert np.isnan(three["price_ratio"])
    assert np.isnan(three["avg_order_value"])
    assert np.isnan(three["mean_rating"])
    assert (three["purchases"], three["spend"], three["views"]) == (0, 0, 1)


def test_without_list_prices_the_highest_price_paid_is_list(events: EventBatch) -> None:
    f = visitor_features(events, AS_OF)  # milk: max paid 1.00, bread: max paid 2.00 -> same as given
    pd.testing.assert_frame_equal(f, visitor_features(events, AS_OF, LIST_PRICES))
    loose = visitor_features(events, AS_OF, LIST_PRICES, VisitorFeatureConfig(coupon_tolerance=0.22))
    assert loose.loc[1, "coupon_share"] == pytest.approx(1 / 3)  # 25 % off still counts
    assert loose.loc[2, "coupon_share"] == 0.0  # 20 % off no longer does


def test_cut_off_excludes_later_events(events: EventBatch) -> None:
    early = visitor_features(events, "2026-01-02 00:00", LIST_PRICES)
    assert early.index.tolist() == [1]
    assert early.loc[1, "purchases"] == 2
    late = visitor_features(events, pd.Timestamp("2026-01-10", tz="UTC"), LIST_PRICES)
    assert late.loc[1, "purchases"] == 4


def test_feature_matrix_aligns_and_fills(events: EventBatch) -> None:
    f = visitor_features(events, AS_OF, LIST_PRICES)
    m, names = feature_matrix(f, np.array([2, 99, 1, 2]), ["spend", "price_ratio"], log_columns=["spend"])
    assert names == ["spend", "price_ratio", "known"]
    np.testing.assert_allclose(
        m,
        [
            [np.log1p(2.4), 0.8, 1.0],
            [0.0, 0.0, 0.0],
            [np.log1p(5.5), 2.75 / 3, 1.0],
            [np.log1p(2.4), 0.8, 1.0],
        ],
    )
    with pytest.raises(KeyError, match="'nope'"):
        feature_matrix(f, [1], ["nope"])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda e: visitor_features(e, "not a time"), "not a time|Unknown datetime|could not convert"),
        (
            lambda e: visitor_features(e, AS_OF, {"milk": -1.0}),
            "positive and finite, got -1.0 for item 'milk'",
        ),
        (
            lambda e: VisitorFeatureConfig(coupon_tolerance=1.0),
            r"coupon_tolerance must lie in \[0, 1\), got 1.0",
        ),
    ],
)
def test_bad_inputs_are_named(events: EventBatch, call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(events)  # type: ignore[operator]
