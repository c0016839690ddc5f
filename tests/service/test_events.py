from __future__ import annotations

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
