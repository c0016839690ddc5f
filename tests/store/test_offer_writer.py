"""The offer log's SQLite writer: one JSON statement per group that stores exactly what the
executemany stores, and checkpoints of the write-ahead log kept off the commit path."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Connection, Engine

from pricepilot.store import OfferLog, make_engine, upgrade
from pricepilot.store import commit as commit_mod
from pricepilot.store import offer_writer as offers_mod
from pricepilot.store.offer_writer import _RecountError, write_offer_batches
from pricepilot.store.offers import OfferBatch
from tests.store.test_bulk import make_batch


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'offers.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    """Every stored offer as SQLite holds it: each value with its storage class."""
    columns = ", ".join(f"{c}, typeof({c})" for c in offers_mod._OFFER_COLUMNS)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {columns} FROM offers ORDER BY offer_id").all()
    return [tuple(r) for r in rows]


def _awkward_batches() -> list[OfferBatch]:
    """Batches with values a text round trip could change: extreme and subnormal floats, -0.0,
    int64 limits, unknown costs, float32 and strided arrays, two feature sets, repeated ids."""
    rng = np.random.default_rng(3)
    n = 40
    wild = rng.random(n * 4).view(np.uint64) ^ rng.integers(0, 2**63, n * 4, dtype=np.uint64)
    wild_floats = wild.view(np.float64)
    wild_floats[~np.isfinite(wild_floats)] = 1.0
    features = np.column_stack(
        [wild_floats.reshape(n, 4), [5e-324, -0.0, 1.7976931348623157e308, 1e16] * (n // 4)]
    )
    first = make_batch(
        "w",
        n,
        visitor_ids=np.array([2**63 - 1, -(2**63)] * (n // 2), dtype=np.int64),
        item_ids=rng.integers(-(2**40), 2**40, n),
        features=features,
        feature_names=("a", "b\u00e9", 'q"uote', "c\\d", "e"),
        prices=np.abs(rng.normal(size=n)) * 10.0 ** rng.integers(-300, 300, n),
        list_prices=rng.random(n) + 1e-9,
        unit_costs=np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
        propensities=np.nextafter(rng.random(n), 2.0).clip(5e-324, 1.0),
    )
    second = make_batch(  # other features, float32 and strided columns, an id of the first batch
        "v",
        6,
        offer_ids=("v-0", "w-3", "v-2", "v-3", "v-4", "v-5"),
        features=rng.normal(size=(6, 3)).astype(np.float32),
        feature_names=("x", "y", "z"),
        prices=np.arange(12.0)[::2] + 0.1,
        created_at=None,
        policy_version="other@2",
        n_actions=9,
        actions=np.array([0, 8, 1, 2, 3, 4]),
    )
    third = make_batch("u", 3, features=np.zeros((3, 2)), feature_names=("recency", "bias"))
    return [first, second, third]


def _no_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Have the writer take the path of an SQLite built without JSON functions."""
    monkeypatch.setattr(
        offers_mod, "SQLITE_JSON_INSERT", offers_mod.SQLITE_JSON_INSERT.replace("json_each", "json_nope")
    )


def test_json_insert_stores_exactly_what_the_executemany_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _awkward_batches()
    now = offers_mod.utcnow()
    monkeypatch.setattr(offers_mod, "utcnow", lambda: now)  # the same time for the batch without one
    stored = []
    counts = []
    for name in ("json", "executemany"):
        if name == "executemany":
            _no_json(monkeypatch)
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        with engine.begin() as conn:
            counts.append(write_offer_batches(conn, batches))
        stored.append(_stored(engine))
        joined = OfferLog(engine).joined()
        engine.dispose()
    assert counts == [[40, 5, 3], [40, 5, 3]]  # 'w-3' counts for its first batch
    assert stored[0] == stored[1]
    assert len(stored[0]) == 48
    by_id = {j.offer.offer_id: j.offer for j in joined}
    first = batches[0]
    for i, oid in enumerate(first.offer_ids):
        offer = by_id[oid]
        assert np.array_equal(np.array(offer.features).view(np.uint64), first.features[i].view(np.uint64))
        assert offer.visitor_id == first.visitor_ids[i]
        assert np.float64(offer.price).view(np.uint64) == first.prices[i].view(np.uint64)
        cost = first.unit_costs[i]
        assert offer.unit_cost is None if np.isnan(cost) else offer.unit_cost == cost
        assert offer.feature_names == first.feature_names
    assert by_id["v-5"].features == tuple(float(x) for x in batches[1].features[5])
    assert by_id["v-5"].created_at == now.replace(microsecond=now.microsecond)


@pytest.mark.parametrize("json_functions", [True, False])
def test_stored_ids_in_a_group_of_several_batches_ask_for_a_recount(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, json_functions: bool
) -> None:
    if not json_functions:
        _no_json(monkeypatch)
    with sqlite_engine.begin() as conn:
        assert write_offer_batches(conn, [make_batch("a", 3)]) == [3]
        assert write_offer_batches(conn, [make_batch("a", 4)]) == [1]  # one batch: counted alone
    recount = pytest.raises(_RecountError, match="4 offers of a group were stored before")
    with recount, sqlite_engine.begin() as conn:
        write_offer_batches(conn, [make_batch("b", 2), make_batch("a", 5)])
    # through group commit, each batch of such a group is then written and counted on its own
    group = commit_mod.GroupCommit(sqlite_engine, write_offer_batches)
    gate = threading.Event()
    real = group.write_many

    def held(conn: Connection, batches: Sequence[OfferBatch]) -> list[int]:
        gate.wait(10)
        return real(conn, batches)

    group.write_many = held
    futures = [group.submit(make_batch("c", 2)), group.submit(make_batch("a", 6))]
    gate.set()
    assert [f.result(10) for f in futures] == [2, 2]
    assert OfferLog(sqlite_engine).count() == (8, 0)


def _wal_bytes(engine: Engine) -> int:
    path = f"{engine.url.database}-wal"
    return os.path.getsize(path) if os.path.exists(path) else 0


def _autocheckpoint_of_pooled_connections(engine: Engine, n: int = 6) -> set[int]:
    conns = [engine.connect() for _ in range(n)]
    try:
        return {int(c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()) for c in conns}
    finally:
        for c in conns:
            c.close()


def _group_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("pp-commit", "pp-checkpoint")]


def test_checkpoints_keep_the_wal_bounded_off_the_commit_path(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commit_mod, "WRITER_IDLE_SECONDS", 0.3)
    monkeypatch.setattr(commit_mod, "CHECKPOINT_ROWS", 2_000)
    monkeypatch.setattr(commit_mod, "REWIND_PAGES", 256)  # 1 MiB: the writes below never pause long
    before = set(_group_threads())
    log = OfferLog(sqlite_engine)
    rng = np.random.default_rng(0)
    names = tuple(f"f{i}" for i in range(20))
    biggest = 0
    pending: list[Future[int]] = []
    for g in range(300):
        batch = make_batch(f"g{g}", 80, features=rng.normal(size=(80, 20)), feature_names=names)
        pending.append(log.submit_batch(batch))
        if len(pending) == 4:
            assert [f.result(10) for f in pending] == [80] * 4
            pending.clear()
            biggest = max(biggest, _wal_bytes(sqlite_engine))
    assert [f.result(10) for f in pending] == [80] * len(pending)
    assert log.count() == (24_000, 0)
    group = commit_mod.group_commit(sqlite_engine, "offers", write_offer_batches)
    assert group.checkpointer is not None
    assert group.checkpointer.checkpoints >= 2
    assert group.checkpointer.restarts >= 1  # some left the log wholly copied: it was rewound
    written = 24_000 * 400  # bytes of offers at least (the features alone take ~400 bytes a row)
    assert biggest < written / 2, f"the WAL grew to {biggest} bytes"  # ~20 MB without checkpoints
    # the writer and the checkpointer end when idle, and the pool's connections keep the defaults
    deadline = time.monotonic() + 10
    while set(_group_threads()) - before:
        assert time.monotonic() < deadline, "the writer or checkpointer thread never ended"
        time.sleep(0.05)
    assert _autocheckpoint_of_pooled_connections(sqlite_engine) == {1000}


def test_blocking_writes_restore_the_connections_autocheckpoint(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commit_mod, "WRITER_IDLE_SECONDS", 0.3)
    log = OfferLog(sqlite_engine)
    seen: list[int] = []
    real = offers_mod.write_offer_batches

    def spy(conn: Connection, batches: Sequence[OfferBatch]) -> list[int]:
        seen.append(int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()))
        return real(conn, batches)

    group = commit_mod.group_commit(sqlite_engine, "offers", write_offer_batches)
    monkeypatch.setattr(group, "write_many", spy)
    assert log.log_batch(make_batch("a")) == 3
    assert log.submit_batch(make_batch("b")).result(10) == 3
    assert seen == [0, 0]  # both paths write without the automatic checkpoint
    assert _autocheckpoint_of_pooled_connections(sqlite_engine) == {1000}
