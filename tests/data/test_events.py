from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pricepilot.data import EventBatch, EventKind, content_ids, deduplicate


def batch(**change: Any) -> EventBatch:
    fields: dict[str, Any] = {
        "event_id": np.array(["a", "b", "c"], dtype=object),
        "kind": np.array([EventKind.VIEW, EventKind.PURCHASE, EventKind.COMPETITOR_PRICE], dtype=np.int8),
        "timestamp": np.array(["2026-01-01T00:00", "2026-01-01T00:01", "2026-01-01T00:02"], "datetime64[us]"),
        "user": np.array([7, 7, -1]),
        "item": np.array(["i1", "i1", "i1"], dtype=object),
        "price": np.array([np.nan, 9.5, 8.0]),
        "quantity": np.ones(3),
        "rating": np.full(3, np.nan),
        "text": np.array(["", "", "acme"], dtype=object),
        "propensity": np.full(3, np.nan),
        "source_row": np.arange(3),
    }
    return EventBatch(**(fields | change))


def test_batch_round_trips_through_a_frame() -> None:
    events = batch()
    frame = events.to_frame()
    assert list(frame["kind"]) == ["view", "purchase", "competitor_price"]
    again = EventBatch.from_frame(frame)
    for name in events.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(again, name), getattr(events, name))


def test_take_and_len() -> None:
    events = batch()
    assert len(events) == 3
    assert list(events.take(np.array([2, 0])).event_id) == ["c", "a"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"event_id": np.array(["a", "", "c"], dtype=object)}, r"event_id, row 1: empty id"),
        ({"kind": np.array([0, 2, 9], dtype=np.int8)}, r"kind, row 2"),
        ({"user": np.array([7, -1, -1])}, r"user, row 1: this kind needs a visitor"),
        ({"item": np.array(["i1", "", "i1"], dtype=object)}, r"item, row 1"),
        ({"price": np.array([np.nan, np.nan, 8.0])}, r"price, row 1: this kind needs a finite price"),
        ({"price": np.array([-1.0, 9.5, 8.0])}, r"price, row 0: negative"),
        ({"quantity": np.array([1.0, 0.0, 1.0])}, r"quantity, row 1"),
        ({"propensity": np.array([np.nan, 1.5, np.nan])}, r"propensity, row 1"),
        ({"timestamp": np.array(["2026-01-01", "NaT", "2026-01-01"], "datetime64[us]")}, r"timestamp, row 1"),
        ({"user": np.array([1, 2])}, r"user has shape \(2,\)"),
    ],
)
def test_batch_rejects_values_that_break_the_schema(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        batch(**change)


def test_review_needs_a_rating() -> None:
    with pytest.raises(ValueError, match="rating, row 0"):
        batch(kind=np.array([EventKind.REVIEW, 2, 4], dtype=np.int8))


def test_content_ids_are_stable_and_depend_on_every_field() -> None:
    cols = {name: getattr(batch(), name) for name in EventBatch.__dataclass_fields__}
    ids = content_ids(cols)
    # pinned: the id of this content must never change between versions, or re-ingestion duplicates
    assert ids[1] == content_ids(cols)[1]
    assert ids[1] == "h" + PINNED_PURCHASE_ID
    assert len(set(ids)) == 3
    changed = dict(cols, price=np.array([np.nan, 9.25, 8.0]))
    assert content_ids(changed)[1] != ids[1]
    assert content_ids(changed)[0] == ids[0]
    changed = dict(cols, text=np.array(["", "", "acme2"], dtype=object))
    assert content_ids(changed)[2] != ids[2]
    # -0.0 is 0.0 and every NaN is alike
    signed = dict(cols, rating=np.array([-0.0, np.nan, -np.nan]))
    zeroed = dict(cols, rating=np.array([0.0, np.nan, np.nan]))
    assert list(content_ids(signed)) == list(content_ids(zeroed))


PINNED_PURCHASE_ID = "55b700a230bfbf8e4230de1dc7cbefa0"


def test_deduplicate_by_id_then_by_content() -> None:
    events = batch(
        event_id=np.array(["a", "a", "z"], dtype=object),
        kind=np.array([0, 0, 0], dtype=np.int8),
        timestamp=np.array(["2026-01-01T00:00"] * 3, "datetime64[us]"),
        user=np.array([7, 8, 7]),
        price=np.full(3, np.nan),
        text=np.array(["", "", ""], dtype=object),
    )
    kept, report = deduplicate(events)
    # row 1 repeats id 'a' (different content): dropped by id; row 2 repeats row 0's content under id 'z'
    assert list(kept.event_id) == ["a"]
    assert dict(report.rejected) == {"duplicate_event_id": 1, "duplicate_content": 1}
    kept, report = deduplicate(events, by_content=False)
    assert list(kept.event_id) == ["a", "z"]


def test_from_frame_fills_ids_from_content_and_accepts_labels() -> None:
    frame = pd.DataFrame(
        {"kind": ["view", "Purchase"], "timestamp": ["2026-01-01", "2026-01-02"], "user": [1, 2]}
        | {"item": ["x", "y"], "price": [np.nan, 3.0]}
    )
    events = EventBatch.from_frame(frame)
    assert list(events.kind) == [EventKind.VIEW, EventKind.PURCHASE]
    assert all(str(e).startswith("h") for e in events.event_id)
    with pytest.raises(ValueError, match="kind, row 0: unknown"):
        EventBatch.from_frame(frame.assign(kind=["jump", "view"]))
