from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from pricepilot.store import Event, EventStore, StoreError

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _events(ids: range, kind: str = "view") -> list[Event]:
    return [
        Event(f"ev-{i}", kind, T0 + timedelta(seconds=i), visitor_id=i % 7, item_id=i, payload={"i": i})
        for i in ids
    ]


def test_same_ids_twice_are_stored_once(engine: Engine) -> None:
    store = EventStore(engine)
    assert store.append(_events(range(10))) == 10
    assert store.append(_events(range(10))) == 0
    assert store.append(_events(range(5, 15))) == 5
    assert store.count() == 15


def test_duplicates_inside_one_batch_count_once(engine: Engine) -> None:
    store = EventStore(engine)
    assert store.append(_events(range(3)) + _events(range(3))) == 3
    assert store.count() == 3


def test_events_read_back_in_arrival_order(engine: Engine) -> None:
    store = EventStore(engine)
    store.append([Event("b", "purchase", T0, 1, 2, {"price": 9.5, "units": 2, "tags": ["x"]})])
    store.append([Event("a", "review", T0 + timedelta(hours=1), None, 3, {"text": "good"})])
    stored = store.read()
    assert [s.event.event_id for s in stored] == ["b", "a"]
    assert stored[0].event == Event("b", "purchase", T0, 1, 2, {"price": 9.5, "units": 2, "tags": ["x"]})
    assert stored[1].event.occurred_at == T0 + timedelta(hours=1)
    assert stored[1].event.occurred_at.tzinfo is not None
    assert store.read(after=stored[0].position) == stored[1:]
    assert store.read(limit=1) == stored[:1]


def test_batch_with_a_bad_row_writes_nothing(engine: Engine) -> None:
    store = EventStore(engine)
    batch = [*_events(range(5)), Event("bad", "view", T0, payload={"x": {1, 2}}), *_events(range(5, 9))]  # type: ignore[dict-item]
    with pytest.raises(StoreError, match="'bad': payload is not JSON"):
        store.append(batch)
    assert store.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"event_id": "", "kind": "view", "occurred_at": T0}, "event_id must be a string"),
        ({"event_id": "x" * 129, "kind": "view", "occurred_at": T0}, "event_id must be a string"),
        ({"event_id": "e", "kind": "click", "occurred_at": T0}, "unknown kind 'click'"),
        ({"event_id": "e", "kind": "view", "occurred_at": datetime(2026, 1, 1)}, "has no timezone"),
    ],
)
def test_bad_events_are_refused_when_built(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(StoreError, match=match):
        Event(**kwargs)  # type: ignore[arg-type]
