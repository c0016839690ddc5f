from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from pricepilot.store import Event, EventStore, StoreError
from pricepilot.store.catalog import CatalogItem, ItemCatalog


def _purchases(engine: Engine, counts: dict[int, int]) -> None:
    at = datetime(2026, 11, 30, tzinfo=UTC)
    events = [
        Event(f"buy-{item}-{j}", "purchase", at, visitor_id=1, item_id=item)
        for item, n in counts.items()
        for j in range(n)
    ]
    events.append(Event("view-9", "view", at, visitor_id=1, item_id=9))  # views do not count
    EventStore(engine).append(events)


def test_upsert_inserts_and_replaces_whole(engine: Engine) -> None:
    catalog = ItemCatalog(engine)
    first = [CatalogItem(1, 10.0, 6.0, {"q": 0.1}), CatalogItem(2, 20.0, 9.0, {"q": 0.2})]
    assert catalog.upsert(first) == 2
    assert catalog.upsert([CatalogItem(2, 25.0, 9.5, {"r": 1.0}), CatalogItem(2, 21.0, 9.0)]) == 1
    assert catalog.count() == 2
    assert catalog.get([2, 7, 1]) == [CatalogItem(2, 21.0, 9.0), first[0]]
    assert catalog.upsert([]) == 0


def test_popular_ranks_by_purchases_then_id(engine: Engine) -> None:
    catalog = ItemCatalog(engine)
    catalog.upsert([CatalogItem(i, 10.0 + i, 5.0) for i in range(6)])
    _purchases(engine, {3: 3, 1: 1, 4: 1, 42: 5})  # item 42 is not catalogued
    assert catalog.popular(4) == [(3, 3), (1, 1), (4, 1), (0, 0)]
    assert [i for i, _ in catalog.popular(100)] == [3, 1, 4, 0, 2, 5]
    with pytest.raises(StoreError, match="k must be >= 1, got 0"):
        catalog.popular(0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1, 10.0, 5.0), "item_id must be an int >= 0, got -1"),
        ((True, 10.0, 5.0), "item_id must be an int >= 0, got True"),
        ((1, 0.0, 5.0), "item 1: list_price must be a finite number > 0, got 0.0"),
        ((1, math.inf, 5.0), "list_price must be a finite number > 0, got inf"),
        ((1, 10.0, -1.0), "unit_cost must be a finite number >= 0, got -1.0"),
        ((1, 10.0, 5.0, {"q": math.nan}), "feature 'q' must be a finite number, got nan"),
    ],
)
def test_bad_items_are_named(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(StoreError, match=match):
        CatalogItem(*args)  # type: ignore[arg-type]
