from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from pricepilot.store import OfferLog, StoreError, export_logged
from pricepilot.types import Objective, PriceLadder
from tests.store.test_offers import make_offer, make_outcome


def test_export_maps_offers_and_outcomes_to_logged_data(engine: Engine) -> None:
    log = OfferLog(engine)
    log.log([make_offer(i) for i in range(6)] + [make_offer(i, "other@1", n_actions=3) for i in range(6, 8)])
    log.record_outcomes([make_outcome(i) for i in range(5)])
    ladder = PriceLadder.linear(0.8, 1.2, 5)
    data = export_logged(engine, policy_version="lints@1", ladder=ladder, objective="profit")
    assert data.n == 5
    assert data.n_actions == 5
    assert data.feature_names == ("recency", "bias", "competitor_gap")
    np.testing.assert_array_equal(data.features[:, 0], 0.5 * np.arange(5))
    np.testing.assert_array_equal(data.actions, np.arange(5) % 5)
    np.testing.assert_allclose(data.propensities, [make_offer(i).propensity for i in range(5)])
    np.testing.assert_array_equal(data.rewards, [3.0, 0.0, 3.0, 0.0, 3.0])
    assert data.purchased is not None
    np.testing.assert_array_equal(data.purchased, [True, False, True, False, True])
    np.testing.assert_array_equal(data.visitor_ids, 100 + np.arange(5))
    expected = Objective.named("profit").value_if_bought(ladder.prices(np.full(5, 10.0)), np.full(5, 6.0))
    assert data.value_if_bought is not None
    np.testing.assert_allclose(data.value_if_bought, expected)
    assert data.contexts().n == 5

    all_offers = export_logged(engine, policy_version="lints@1", unanswered="no_sale")
    assert all_offers.n == 6
    assert all_offers.rewards[-1] == 0.0
    assert all_offers.ladder is None


def test_export_refuses_mixed_or_empty_logs(engine: Engine) -> None:
    log = OfferLog(engine)
    with pytest.raises(StoreError, match="no logged offers"):
        export_logged(engine)
    log.log([make_offer(0), make_offer(1, "other@1", n_actions=3)])
    log.record_outcomes([make_outcome(0), make_outcome(1)])
    with pytest.raises(StoreError, match="export one policy version at a time"):
        export_logged(engine)
    with pytest.raises(StoreError, match="the ladder has 9 actions, the offers 5"):
        export_logged(engine, policy_version="lints@1", ladder=PriceLadder.linear())
