"""The bulk write paths: offer batches with group commit, and events in bulk, on both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Connection, Engine

from pricepilot.store import Event, EventStore, OfferLog, StoreError
from pricepilot.store.commit import GroupCommit
from pricepilot.store.offers import OfferBatch

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NAMES = ("recency", "bias")


def make_batch(prefix: str, n: int = 3, **change: Any) -> OfferBatch:
    fields: dict[str, object] = {
        "offer_ids": tuple(f"{prefix}-{i}" for i in range(n)),
        "visitor_ids": np.full(n, 7, dtype=np.int64),
        "item_ids": np.arange(n, dtype=np.int64),
        "features": np.column_stack([np.arange(n) * 0.5, np.ones(n)]),
        "feature_names": NAMES,
        "actions": np.arange(n, dtype=np.int64) % 4,
        "n_actions": 4,
        "prices": 10.0 * (0.8 + 0.1 * np.arange(n)),
        "list_prices": np.full(n, 10.0),
        "unit_costs": np.full(n, 6.0),
        "propensities": np.full(n, 0.25),
        "policy_version": "lints@1",
        "created_at": T0,
    }
    fields |= change
    return OfferBatch(**fields)  # type: ignore[arg-type]


def test_offer_batch_is_stored_as_its_columns_once(engine: Engine) -> None:
    log = OfferLog(engine)
    batch = make_batch("a")
    assert log.log_batch(batch) == 3
    assert log.log_batch(batch) == 0  # a retry stores nothing twice
    stored = sorted((j.offer for j in log.joined()), key=lambda o: o.offer_id)
    assert [o.offer_id for o in stored] == list(batch.offer_ids)
    first = stored[1]
    assert (first.visitor_id, first.item_id, first.action, first.n_actions) == (7, 1, 1, 4)
    assert first.features == (0.5, 1.0)
    assert first.feature_names == NAMES
    assert first.price == pytest.approx(9.0)
    assert first.unit_cost == 6.0
    assert first.propensity == 0.25
    assert first.policy_version == "lints@1"
    assert first.created_at == T0


def test_offer_batch_with_unknown_cost_stores_null(engine: Engine) -> None:
    log = OfferLog(engine)
    log.log_batch(make_batch("c", 2, unit_costs=np.array([np.nan, 4.0])))
    costs = sorted((j.offer.offer_id, j.offer.unit_cost) for j in log.joined())
    assert costs == [("c-0", None), ("c-1", 4.0)]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"propensities": np.array([0.2, 0.0, 0.3])}, r"offer 'x-1': propensity must be in \(0, 1\]"),
        ({"actions": np.array([0, 4, 1])}, r"offer 'x-1': action outside 0\.\.3"),
        (
            {"features": np.array([[0.0, 1.0], [0.0, 1.0], [np.nan, 1.0]])},
            "offer 'x-2': features must be finite",
        ),
        ({"prices": np.array([1.0, -1.0, 1.0])}, "offer 'x-1': price must be"),
        ({"list_prices": np.array([0.0, 1.0, 1.0])}, "offer 'x-0': list_price must be"),
        ({"offer_ids": ("a", "a", "b")}, "repeat within the batch"),
        ({"offer_ids": ("a", "", "b")}, "offer_id must be a string of 1 to 128"),
        ({"item_ids": np.arange(2)}, r"item_ids of shape \(2,\), expected \(3,\)"),
        ({"feature_names": ("one",)}, r"features of shape \(3, 2\), expected \(3, 1\)"),
        ({"policy_version": ""}, "policy_version is empty"),
        ({"created_at": datetime(2026, 1, 1)}, "has no timezone"),
    ],
)
def test_bad_offer_batches_are_refused_naming_the_offer(change: dict[str, Any], match: str) -> None:
    with pytest.raises(StoreError, match=match):
        make_batch("x", 3, **change)


def _wait_for_queue(group: GroupCommit[str], size: int) -> None:
    deadline = time.monotonic() + 10
    while len(group._queue) < size:  # the test drives the grouping, so it reads the queue
        assert time.monotonic() < deadline, "the writers never queued"
        time.sleep(0.001)


def test_group_commit_shares_a_transaction_and_isolates_a_bad_batch(engine: Engine) -> None:
    groups: list[list[str]] = []
    gate = threading.Event()

    def write_many(_conn: Connection, batches: Sequence[str]) -> list[int]:
        if not groups:
            gate.wait(10)  # the first writer holds the lead until the others have queued
        groups.append(list(batches))
        if "bad" in batches:
            raise ValueError("bad batch")
        return [len(b) for b in batches]

    group: GroupCommit[str] = GroupCommit(engine, write_many)
    results: dict[str, object] = {}

    def call(batch: str) -> None:
        try:
            results[batch] = group.write(batch)
        except ValueError as err:
            results[batch] = err

    first = threading.Thread(target=call, args=("a",))
    first.start()
    while not groups and not group._busy:
        time.sleep(0.001)
    others = [threading.Thread(target=call, args=(b,)) for b in ("bb", "bad", "cccc")]
    for t in others:
        t.start()
    _wait_for_queue(group, 3)
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert results["a"] == 1
    assert results["bb"] == 2
    assert results["cccc"] == 4
    assert isinstance(results["bad"], ValueError)
    assert groups[0] == ["a"]
    assert sorted(groups[1]) == ["bad", "bb", "cccc"]  # one shared transaction for the three
    assert sorted(g[0] for g in groups[2:]) == ["bad", "bb", "cccc"]  # then each on its own
    assert not group._busy
    assert not group._queue


def test_concurrent_offer_batches_are_all_committed_when_answered(engine: Engine) -> None:
    log = OfferLog(engine)
    counts: list[int] = []
    lock = threading.Lock()

    def serve(k: int) -> None:
        for j in range(5):
            n = log.log_batch(make_batch(f"t{k}-{j}", created_at=None))
            with lock:
                counts.append(n)

    threads = [threading.Thread(target=serve, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert counts == [3] * 30
    assert log.count() == (90, 0)


def test_events_in_bulk_keep_order_payloads_and_idempotency(engine: Engine) -> None:
    store = EventStore(engine)
    huge = 2**70  # beyond orjson's 64 bits: written by the standard library instead
    batch = [
        Event(f"e{i}", "view", T0, i, 2 * i, {"n": i, "big": huge, "tags": ["x", {"y": 1.5}]})
        for i in range(5)
    ]
    assert store.append(batch + batch[:2]) == 5
    assert store.append(batch) == 0
    read = store.read()
    assert [s.event for s in read] == batch
    assert [s.position for s in read] == sorted(s.position for s in read)


@pytest.mark.parametrize("bad", [float("nan"), [1.0, float("inf")], {"x": {"y": float("-inf")}}])
def test_non_finite_payload_is_refused_and_nothing_written(engine: Engine, bad: object) -> None:
    store = EventStore(engine)
    batch = [Event("ok", "view", T0), Event("bad", "view", T0, payload={"v": bad})]  # type: ignore[dict-item]
    with pytest.raises(StoreError, match="'bad': payload is not JSON"):
        store.append(batch)
    assert store.count() == 0
