"""The batched offer path: one probability computation per request, ids, and the audit log."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

import pricepilot as pp
from pricepilot.service.pricing import decide, new_offer_ids
from pricepilot.store import OfferLog
from tests.service.conftest import Keys, imported, offer_request


@pytest.mark.parametrize("name", ["lints", "logistic_ts", "epsilon_greedy", "uniform_random"])
def test_decide_draws_as_act_would(name: str) -> None:
    market = pp.market.make("ecommerce", seed=0)
    policy = pp.policies.make(name, ladder=market.ladder, seed=3)
    batch = market.observe(500)
    policy.update(market.step(batch, policy.act(batch.context)))
    contexts = market.observe(10).context
    twin = copy.deepcopy(policy)
    probabilities, decision = decide(policy, contexts)
    expected = twin.act(contexts)
    np.testing.assert_array_equal(decision.actions, expected.actions)
    np.testing.assert_allclose(decision.propensities, expected.propensities)
    np.testing.assert_allclose(decision.prices, expected.prices)
    np.testing.assert_allclose(probabilities, twin.action_probabilities(contexts))
    rows = np.arange(contexts.n)
    np.testing.assert_allclose(probabilities[rows, decision.actions], decision.propensities)


def test_offer_ids_are_distinct_hex_and_later_ones_sort_later() -> None:
    ids = new_offer_ids(1000)
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    time.sleep(0.002)
    later = new_offer_ids(1000)
    assert min(later) > max(ids)  # the millisecond comes first


def test_every_answered_offer_is_in_the_log_as_served(client: TestClient, keys: Keys) -> None:
    answered = []
    for day in (20_000, 20_001):
        r = client.post("/v1/offers", json=offer_request(n=4, day=day), headers=keys.offers)
        assert r.status_code == 200, r.text
        answered += r.json()["offers"]
    imported(client)
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    logged = {j.offer.offer_id: j.offer for j in OfferLog(engine).joined()}
    assert len(logged) == len(answered) == 8
    for offer in answered:
        row = logged[offer["offer_id"]]
        assert (row.item_id, row.action, row.policy_version) == (
            offer["item_id"],
            offer["action"],
            "default@1",
        )
        assert row.price == pytest.approx(offer["price"])
        assert row.propensity == pytest.approx(offer["propensity"])
        assert "age" not in row.feature_names  # what the policy saw: protected attributes stripped


def test_features_of_a_group_match_a_lookup_row_by_row() -> None:
    """``_features`` (visitor and context spread at once; one matrix when every candidate names the
    same features) gives what looking each name up, candidate by candidate, gives."""
    from pricepilot.service.pricing import _features
    from pricepilot.service.schemas import OfferRequest

    rng = np.random.default_rng(0)
    names = ("a", "b", "c", "d")
    pool = ["a", "b", "c", "d", "x"]  # "x": a feature the policy does not read
    for trial in range(200):
        requests = []
        for _ in range(int(rng.integers(1, 5))):
            same = trial % 2 == 0  # half the trials: every candidate names the same features
            keys = list(rng.choice(pool, size=int(rng.integers(0, 4)), replace=False))

            def pick(keys: list[str] = keys, same: bool = same) -> dict[str, float]:
                chosen = keys if same else list(rng.choice(pool, size=int(rng.integers(0, 4)), replace=False))
                if same and rng.random() < 0.5:
                    chosen = chosen[::-1]  # the same names in another order
                return {k: float(rng.normal()) for k in chosen}

            requests.append(
                OfferRequest.model_validate(
                    {
                        "visitor": {"id": 1, "features": pick()},
                        "context": {"features": pick()},
                        "candidates": [
                            {"item_id": i, "list_price": 5.0, "unit_cost": 1.0, "features": pick()}
                            for i in range(int(rng.integers(1, 4)))
                        ],
                    }
                )
            )
        expected = [
            [c.features.get(n, r.visitor.features.get(n, r.context.features.get(n, np.nan))) for n in names]
            for r in requests
            for c in r.candidates
        ]
        np.testing.assert_array_equal(_features(names, requests), np.array(expected))
