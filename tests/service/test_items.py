"""The item catalogue (``PUT /v1/items``) and offers for requests that name no candidates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from pricepilot.service.candidates import CandidateSource
from pricepilot.store import Event, EventStore, make_engine, upgrade
from pricepilot.store.catalog import CatalogItem, ItemCatalog
from tests.service.conftest import Keys


def _items(n: int) -> list[dict[str, Any]]:
    return [
        {"item_id": i, "list_price": 10.0 + i, "unit_cost": 5.0, "features": {"item_quality": 0.1 * i}}
        for i in range(n)
    ]


def _buy(client: TestClient, keys: Keys, counts: dict[int, int]) -> None:
    events = [
        {
            "event_id": f"buy-{item}-{j}",
            "kind": "purchase",
            "occurred_at": "2026-11-30T10:00:00Z",
            "item_id": item,
        }
        for item, n in counts.items()
        for j in range(n)
    ]
    r = client.post("/v1/events", json={"events": events}, headers=keys.events)
    assert r.status_code == 200, r.text


def _ask(client: TestClient, keys: Keys, **extra: Any) -> Any:
    body = {"visitor": {"id": 7, "features": {"visitor_score": 0.3}}, "day": 20_000, **extra}
    return client.post("/v1/offers", json=body, headers=keys.offers)


def test_offers_without_candidates_price_the_most_bought_items(client: TestClient, keys: Keys) -> None:
    _buy(client, keys, {3: 3, 1: 2, 4: 1})
    r = client.put("/v1/items", json={"items": _items(6)}, headers=keys.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 6, "stored": 6, "catalog_size": 6}

    r = _ask(client, keys, k=4)
    assert r.status_code == 200, r.text
    offers = r.json()["offers"]
    assert [o["item_id"] for o in offers] == [3, 1, 4, 0]
    for o in offers:
        assert o["list_price"] == 10.0 + o["item_id"]
        assert 0.5 * o["list_price"] <= o["price"] <= 1.5 * o["list_price"]
    assert len(_ask(client, keys).json()["offers"]) == 6  # k defaults to 10: the whole catalogue here
    # named candidates are priced as before, whatever the catalogue holds
    named = [{"item_id": 99, "list_price": 5.0, "unit_cost": 1.0, "features": {"item_quality": 0.5}}]
    assert [o["item_id"] for o in _ask(client, keys, candidates=named).json()["offers"]] == [99]


def test_replacing_an_item_changes_its_offer_at_once(client: TestClient, keys: Keys) -> None:
    client.put("/v1/items", json={"items": _items(2)}, headers=keys.admin)
    assert _ask(client, keys, k=1).json()["offers"][0]["list_price"] == 10.0
    changed = [{"item_id": 0, "list_price": 40.0, "unit_cost": 20.0, "features": {"item_quality": 0.0}}]
    assert client.put("/v1/items", json={"items": changed}, headers=keys.admin).json()["catalog_size"] == 2
    assert _ask(client, keys, k=1).json()["offers"][0]["list_price"] == 40.0


def test_no_candidates_and_an_empty_catalogue_is_422(client: TestClient, keys: Keys) -> None:
    r = _ask(client, keys)
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "candidates"]
    assert "PUT /v1/items" in error["msg"]


BAD_ITEMS: list[tuple[dict[str, Any], list[Any]]] = [
    ({"items": []}, ["body", "items"]),
    ({"items": [{"item_id": 1, "list_price": 0, "unit_cost": 1}]}, ["body", "items", 0, "list_price"]),
    ({"items": [{"item_id": -1, "list_price": 3, "unit_cost": 1}]}, ["body", "items", 0, "item_id"]),
    (
        {"items": [{"item_id": 1, "list_price": 3, "unit_cost": 1, "colour": 2}]},
        ["body", "items", 0, "colour"],
    ),
]


def test_bad_items_are_422_naming_the_field_and_store_nothing(client: TestClient, keys: Keys) -> None:
    for body, loc in BAD_ITEMS:
        r = client.put("/v1/items", json=body, headers=keys.admin)
        assert r.status_code == 422, r.text
        assert [e["loc"] for e in r.json()["detail"]] == [loc]
    assert _ask(client, keys).status_code == 422  # the catalogue is still empty


def test_items_need_the_admin_scope(client: TestClient, keys: Keys) -> None:
    assert client.put("/v1/items", json={"items": _items(1)}).status_code == 401
    assert client.put("/v1/items", json={"items": _items(1)}, headers=keys.offers).status_code == 403


def test_the_ranking_is_cached_until_its_refresh(tmp_path: Path) -> None:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    ItemCatalog(engine).upsert([CatalogItem(i, 10.0, 5.0) for i in range(3)])
    now = [0.0]
    source = CandidateSource(engine, max_k=10, refresh_seconds=30.0, clock=lambda: now[0])
    assert [i.item_id for i in source.top(2)] == [0, 1]
    EventStore(engine).append([Event("b2", "purchase", datetime(2026, 11, 30, tzinfo=UTC), item_id=2)])
    now[0] = 29.0
    assert [i.item_id for i in source.top(2)] == [0, 1]
    now[0] = 30.0
    assert [i.item_id for i in source.top(2)] == [2, 0]
    engine.dispose()
