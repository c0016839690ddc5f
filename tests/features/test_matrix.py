from __future__ import annotations

import numpy as np

import pricepilot as pp
from pricepilot.data.events import EventBatch
from pricepilot.features import context_features, feature_matrix, item_features, visitor_features
from pricepilot.types import ContextBatch, PriceLadder
from tests.features.conftest import AS_OF, LIST_PRICES


def test_features_feed_a_policy_context(events: EventBatch) -> None:
    visitors = np.array([1, 2, 3, 42])  # 42 has no history
    items = np.array(["milk", "bread", "jam", "milk"])
    v, v_names = feature_matrix(
        visitor_features(events, AS_OF, LIST_PRICES),
        visitors,
        ["recency_days", "purchases", "spend", "price_ratio", "coupon_share"],
        log_columns=["recency_days", "purchases", "spend"],
    )
    i, i_names = feature_matrix(
        item_features(events, AS_OF, LIST_PRICES), items, ["price_level", "popularity"]
    )
    list_prices = np.array([LIST_PRICES[str(x)] for x in items])
    c = context_features(np.full(4, np.datetime64(AS_OF)), events, items, list_prices)
    features = np.hstack([v, i, c.to_numpy()])
    names = tuple([f"visitor_{n}" for n in v_names] + [f"item_{n}" for n in i_names] + list(c.columns))
    assert features.shape == (4, 6 + 3 + 10)
    assert np.isfinite(features).all()
    ladder = PriceLadder.linear(0.8, 1.2, 5)
    prices = list_prices[:, None] * ladder.multipliers[None, :]
    batch = ContextBatch(
        features=features,
        feature_names=names,
        ladder=ladder,
        prices=prices,
        value_if_bought=prices - 0.5 * list_prices[:, None],
        list_prices=list_prices,
        unit_costs=0.5 * list_prices,
        item_ids=np.arange(4),
        visitor_ids=visitors,
    )
    policy = pp.policies.make("lints", ladder=ladder)
    decisions = policy.act(batch)
    assert decisions.actions.shape == (4,)
    assert ((decisions.actions >= 0) & (decisions.actions < ladder.n_actions)).all()
    # milk at 1.00 against the lowest competitor quote in force (acme 0.90 since 2026-01-03)
    assert c["competitor_ratio"].iloc[0] == 1.0 / 0.9
