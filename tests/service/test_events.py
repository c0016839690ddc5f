from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from pricepilot.service import Settings
from pricepilot.store import EventStore, OfferLog, make_engine
from tests.service.conftest import Keys, offer_request


def _event(event_id: str, kind: str = "view", **extra: object) -> dict[str, object]:
    return {"event_id": event_id, "kind": kind, "occurred_at": "2026-11-30T10:00:00Z", **extra}


def test_events_are_idempotent(client: TestClient, keys: Keys, settings: Settings) -> None:
    body = {"events": [_event("e1", visitor_id=1, item_id=2), _event("e2", "cart")]}
    first = client.post("/v1/events", json=body, headers=keys.events)
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 2
    second = client.post("/v1/events", json=body, headers=keys.events)
    assert second.json() == {"received": 2, "stored": 0, "outcomes": 0, "learned": 0}
    assert EventStore(make_engine(settings.db_url)).count() == 2
    assert client.post("/v1/events", json=body, headers=keys.offers).status_code == 403


def test_purchase_joins_its_offer_and_updates_the_policy(
    client: TestClient, keys: Keys, settings: Settings
) -> None:
    offers = client.post("/v1/offers", json=offer_request(), headers=keys.offers).json()["offers"]
    assert client.get("/readyz").json()["n_updates"] == 0
    body = {"events": [_event("p1", "purchase", offer_id=offers[0]["offer_id"], units=2)]}
    r = client.post("/v1/events", json=body, headers=keys.events)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "stored": 1, "outcomes": 1, "learned": 1}
    assert client.get("/readyz").json()["n_updates"] == 1
    again = client.post("/v1/events", json=body, headers=keys.events)  # a retry teaches nothing twice
    assert again.json()["learned"] == 0
    assert client.get("/readyz").json()["n_updates"] == 1
    logged = {lo.offer.offer_id: lo for lo in OfferLog(make_engine(settings.db_url)).joined()}
    outcome = logged[offers[0]["offer_id"]].outcome
    assert outcome is not None
    assert outcome.purchased
    assert outcome.revenue == offers[0]["price"] * 2
    assert outcome.profit == (offers[0]["price"] - 6.0) * 2
    metrics = client.get("/metrics").text
    assert 'pricepilot_outcomes_total{purchased="true"} 1.0' in metrics
    assert "pricepilot_outcome_reward_count 1.0" in metrics


def test_unknown_offer_fails_the_whole_batch(client: TestClient, keys: Keys, settings: Settings) -> None:
    body = {"events": [_event("ok"), _event("p", "purchase", offer_id="never-served")]}
    r = client.post("/v1/events", json=body, headers=keys.events)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "events", 1, "offer_id"]
    assert EventStore(make_engine(settings.db_url)).count() == 0


def test_bad_event_is_422_naming_the_field(client: TestClient, keys: Keys) -> None:
    r = client.post("/v1/events", json={"events": [_event("x", "teleport")]}, headers=keys.events)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "events", 0, "kind"]
    naive = {"events": [_event("y") | {"occurred_at": "2026-11-30T10:00:00"}]}
    r = client.post("/v1/events", json=naive, headers=keys.events)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "events", 0, "occurred_at"]


def _not_bought(event_id: str, offer_id: str) -> dict[str, object]:
    return _event(event_id, "offer_outcome", offer_id=offer_id, payload={"purchased": False})


def test_not_bought_outcome_updates_the_policy_once(
    client: TestClient, keys: Keys, settings: Settings
) -> None:
    offers = client.post("/v1/offers", json=offer_request(), headers=keys.offers).json()["offers"]
    policy = client.app.state.services.state.current().policy  # type: ignore[attr-defined]
    action = offers[0]["action"]
    a_inv = policy.A_inv_[action].copy()
    body = {"events": [_not_bought("n1", offers[0]["offer_id"])]}
    r = client.post("/v1/events", json=body, headers=keys.events)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "stored": 1, "outcomes": 1, "learned": 1}
    assert client.get("/readyz").json()["n_updates"] == 1
    assert not np.allclose(policy.A_inv_[action], a_inv)  # the shown offer was learned from ...
    assert np.all(policy.b_[action] == 0.0)  # ... as purchased = 0
    assert np.all(policy.theta_ == 0.0)
    again = client.post("/v1/events", json=body, headers=keys.events)  # a retry teaches nothing twice
    assert again.json() == {"received": 1, "stored": 0, "outcomes": 0, "learned": 0}
    other = client.post(
        "/v1/events", json={"events": [_not_bought("n2", offers[0]["offer_id"])]}, headers=keys.events
    )
    assert other.json() == {"received": 1, "stored": 1, "outcomes": 0, "learned": 0}
    assert client.get("/readyz").json()["n_updates"] == 1
    engine = make_engine(settings.db_url)
    outcome = {lo.offer.offer_id: lo for lo in OfferLog(engine).joined()}[offers[0]["offer_id"]].outcome
    assert outcome is not None
    assert (outcome.purchased, outcome.units, outcome.revenue, outcome.profit, outcome.reward) == (
        False,
        0,
        0.0,
        0.0,
        0.0,
    )
    stored = EventStore(engine).read()[0].event
    assert (stored.kind, stored.payload["purchased"], stored.payload["units"]) == ("offer_outcome", False, 0)
    assert 'pricepilot_outcomes_total{purchased="false"} 1.0' in client.get("/metrics").text
    # a later purchase of the offer closed as not bought is refused, naming the field
    late = {"events": [_event("p-late", "purchase", offer_id=offers[0]["offer_id"])]}
    r = client.post("/v1/events", json=late, headers=keys.events)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "events", 0, "offer_id"]
    assert "not bought" in r.json()["detail"][0]["msg"]
    assert EventStore(engine).count() == 2
    assert client.get("/readyz").json()["n_updates"] == 1


def test_not_bought_and_purchases_mix_in_a_batch_all_or_nothing(
    client: TestClient, keys: Keys, settings: Settings
) -> None:
    offers = client.post("/v1/offers", json=offer_request(), headers=keys.offers).json()["offers"]
    engine = make_engine(settings.db_url)
    bad = {
        "events": [
            _event("p1", "purchase", offer_id=offers[0]["offer_id"]),
            _not_bought("n1", offers[1]["offer_id"]),
            _not_bought("n2", "never-served"),
        ]
    }
    r = client.post("/v1/events", json=bad, headers=keys.events)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "events", 2, "offer_id"]
    conflict = {
        "events": [
            _not_bought("n1", offers[1]["offer_id"]),
            _event("p2", "purchase", offer_id=offers[1]["offer_id"]),
        ]
    }
    r = client.post("/v1/events", json=conflict, headers=keys.events)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "events", 1, "offer_id"]
    assert EventStore(engine).count() == 0
    assert all(lo.outcome is None for lo in OfferLog(engine).joined())
    assert client.get("/readyz").json()["n_updates"] == 0
    good = {
        "events": [
            _event("p1", "purchase", offer_id=offers[0]["offer_id"]),
            _not_bought("n1", offers[1]["offer_id"]),
            _not_bought("n3", offers[2]["offer_id"]),
        ]
    }
    r = client.post("/v1/events", json=good, headers=keys.events)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 3, "stored": 3, "outcomes": 3, "learned": 3}
    assert client.get("/readyz").json()["n_updates"] == 3
    bought = {lo.offer.offer_id: lo.outcome.purchased for lo in OfferLog(engine).joined() if lo.outcome}
    assert bought == {offers[0]["offer_id"]: True, offers[1]["offer_id"]: False, offers[2]["offer_id"]: False}


def test_bad_offer_outcome_is_422_naming_the_field(client: TestClient, keys: Keys) -> None:
    offers = client.post("/v1/offers", json=offer_request(), headers=keys.offers).json()["offers"]
    oid = offers[0]["offer_id"]
    cases = [
        (_event("a", "offer_outcome", payload={"purchased": False}), ["body", "events", 0, "offer_id"]),
        (_event("b", "offer_outcome", offer_id=oid), ["body", "events", 0, "payload", "purchased"]),
        (
            _event("c", "offer_outcome", offer_id=oid, payload={"purchased": True}),
            ["body", "events", 0, "payload", "purchased"],
        ),
        (_not_bought("d", oid) | {"units": 2}, ["body", "events", 0, "units"]),
    ]
    for event, loc in cases:
        r = client.post("/v1/events", json={"events": [event]}, headers=keys.events)
        assert r.status_code == 422, event
        assert r.json()["detail"][0]["loc"] == loc
