"""The offer journal: what a worker appends reaches the store through its importer, after the worker
closes, after it is killed (its importer finishes), and after both are killed (the next start
recovers it); a torn last frame is dropped; an importer that stops is started again."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pricepilot.store import journal as journal_mod
from pricepilot.store import make_engine, upgrade
from pricepilot.store.journal import JournalError, OfferJournal, journal_location, recover
from pricepilot.store.journal_import import decode_frames, encode_frame, segments
from pricepilot.store.offer_batch import OfferBatch
from pricepilot.store.offer_writer import sqlite_documents, write_offer_batches
from pricepilot.store.schema import offers

N = 6


def _batch(rng: np.random.Generator, tag: str) -> OfferBatch:
    unit_costs = rng.uniform(1, 5, N)
    unit_costs[0] = np.nan  # unknown cost: NULL
    return OfferBatch(
        offer_ids=tuple(f"{tag}-{i}" for i in range(N)),
        visitor_ids=rng.integers(0, 2**40, N),
        item_ids=rng.integers(0, 500, N),
        features=rng.normal(size=(N, 3)),
        feature_names=("a", "b", "c"),
        actions=rng.integers(0, 5, N),
        n_actions=5,
        prices=rng.uniform(5, 20, N),
        list_prices=rng.uniform(5, 20, N),
        unit_costs=unit_costs,
        propensities=rng.uniform(0.1, 1.0, N),
        policy_version="p@1",
    )


def _store(tmp_path: Path, name: str = "s.db") -> tuple[str, str, Path]:
    url = f"sqlite:///{tmp_path / name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    where = journal_location(url)
    assert where is not None
    return url, *where


def _rows(url: str) -> dict[str, tuple[object, ...]]:
    """Every stored offer's columns as SQLite holds them (values, and each value's storage class)."""
    columns = ", ".join(f"{c.name}, typeof({c.name})" for c in offers.columns)
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        return {r[0]: tuple(r) for r in conn.execute(f"SELECT {columns} FROM offers")}


def _no_importer(journal: OfferJournal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "_ensure_importer", lambda: None)


def _wait_until(done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``done`` until it holds or ``timeout`` seconds pass (the test's assertion follows)."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def _abandon(journal: OfferJournal) -> None:
    """What a killed worker leaves: its files, with its lock released."""
    os.close(journal._fd)
    os.close(journal._lock_fd)
    journal._closed = True


def test_frames_round_trip_and_a_damaged_one_stops_the_reading() -> None:
    docs = [("[1]", "[[0.5]]", '[[5,"p@1","t",["a"]]]'), ("[]", "[]", "[]")]
    data = b"".join(encode_frame(d) for d in docs)
    assert decode_frames(data) == (docs, len(data), False)
    assert decode_frames(data[:-1]) == (docs[:1], len(encode_frame(docs[0])), False)  # cut short
    bad = bytearray(data)
    bad[-1] ^= 1
    assert decode_frames(bytes(bad)) == (docs[:1], len(encode_frame(docs[0])), True)  # damaged


def test_appended_offers_reach_the_store_as_the_direct_insert_writes_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    batches = [_batch(rng, f"g{g}") for g in range(20)]
    url, database, directory = _store(tmp_path)
    journal = OfferJournal(database, directory)
    for b in batches:
        journal.append(sqlite_documents(b))
    assert journal.flush(30)
    assert journal.importer_starts == 1
    journaled = _rows(url)
    direct_url = f"sqlite:///{tmp_path / 'direct.db'}"
    engine = make_engine(direct_url)
    upgrade(engine)
    with engine.begin() as conn:
        write_offer_batches(conn, batches)
    engine.dispose()
    direct = _rows(direct_url)
    assert len(journaled) == 20 * N
    assert journaled.keys() == direct.keys()
    for oid, row in journaled.items():  # created_at differs: stamped when appended, or when inserted
        assert row[:-2] == direct[oid][:-2]
    assert journal.close()
    assert list(directory.iterdir()) == []  # imported and deleted


def test_close_imports_what_is_left_and_deletes_the_journal(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    url, database, directory = _store(tmp_path)
    journal = OfferJournal(database, directory)
    for g in range(50):
        journal.append(sqlite_documents(_batch(rng, f"g{g}")))
    assert journal.close()  # no flush: the importer finishes on its own
    assert len(_rows(url)) == 50 * N
    assert list(directory.iterdir()) == []
    with pytest.raises(JournalError, match="closed"):
        journal.append(sqlite_documents(_batch(rng, "late")))


def test_a_dead_workers_journal_is_recovered_and_a_torn_last_frame_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(2)
    url, database, directory = _store(tmp_path)
    journal = OfferJournal(database, directory)
    _no_importer(journal, monkeypatch)
    for g in range(3):
        journal.append(sqlite_documents(_batch(rng, f"g{g}")))
    torn = encode_frame(sqlite_documents(_batch(rng, "torn")))
    os.write(journal._fd, torn[: len(torn) // 2])  # the kill came in the middle of a write
    live = OfferJournal(database, directory)  # another worker, alive: its journal is left alone
    _no_importer(live, monkeypatch)
    live.append(sqlite_documents(_batch(rng, "live")))
    assert recover(database, directory) == 0  # the first worker is alive too: nothing taken
    _abandon(journal)
    assert recover(database, directory) == 1  # one transaction of its three whole frames
    assert sorted({oid.split("-")[0] for oid in _rows(url)}) == ["g0", "g1", "g2"]
    assert sorted(p.name.split(".")[0] for p in directory.iterdir()) == [live.owner, live.owner]
    _abandon(live)
    assert recover(database, directory) == 1
    assert len(_rows(url)) == 4 * N
    assert list(directory.iterdir()) == []


def test_segments_roll_over_and_imported_ones_are_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    monkeypatch.setattr(journal_mod, "SEGMENT_BYTES", 4_000)
    url, database, directory = _store(tmp_path)
    journal = OfferJournal(database, directory)
    for g in range(40):
        journal.append(sqlite_documents(_batch(rng, f"g{g}")))
    assert journal.position[0] >= 5  # rolled over several times
    assert journal.flush(30)
    _wait_until(lambda: len(segments(directory, journal.owner)) <= 1)
    assert segments(directory, journal.owner) == [journal.position[0]]  # the older ones: imported, deleted
    assert len(_rows(url)) == 40 * N
    assert journal.close()


def test_an_importer_that_stops_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    monkeypatch.setattr(journal_mod, "RESTART_SECONDS", 0.0)
    url, database, directory = _store(tmp_path)
    journal = OfferJournal(database, directory)
    journal.append(sqlite_documents(_batch(rng, "first")))
    assert journal.flush(30)
    importer = journal._importer
    assert importer is not None
    importer.kill()
    importer.wait(10)
    journal.append(sqlite_documents(_batch(rng, "second")))  # finds it gone: starts another
    assert journal.flush(30)
    assert journal.importer_starts == 2
    assert len(_rows(url)) == 2 * N
    assert journal.close()


_WORKER = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_journal import _batch
from pricepilot.store.journal import OfferJournal
from pricepilot.store.offer_writer import sqlite_documents
journal = OfferJournal({database!r}, __import__("pathlib").Path({directory!r}))
rng = np.random.default_rng(5)
for g in range(200):
    journal.append(sqlite_documents(_batch(rng, f"g{{g}}")))
print(journal._importer.pid, flush=True)
sys.stdin.read()  # wait to be killed
"""


@pytest.mark.parametrize("importer_too", [False, True])
def test_a_killed_workers_offers_all_reach_the_store(tmp_path: Path, importer_too: bool) -> None:
    url, database, directory = _store(tmp_path)
    code = _WORKER.format(tests=str(Path(__file__).parent), database=database, directory=str(directory))
    worker = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    importer = int(worker.stdout.readline())
    if importer_too:
        os.kill(importer, signal.SIGKILL)
    worker.kill()
    worker.wait(30)
    if importer_too:  # nobody left to finish it: the next worker's start does
        assert recover(database, directory) >= 1
    else:  # the importer sees its worker gone, imports the rest and deletes the journal
        _wait_until(lambda: not any(directory.iterdir()))
    assert list(directory.iterdir()) == []
    assert len(_rows(url)) == 200 * N


def test_the_lag_counts_what_is_appended_and_not_yet_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(6)
    monkeypatch.setattr(journal_mod, "SEGMENT_BYTES", 4_000)
    _, database, directory = _store(tmp_path)
    journal = OfferJournal(database, directory)
    start_importer = journal._ensure_importer
    _no_importer(journal, monkeypatch)
    groups = [sqlite_documents(_batch(rng, f"g{g}")) for g in range(12)]
    for docs in groups:
        journal.append(docs)
    assert journal.position[0] >= 2  # across segments
    assert journal.lag_bytes == sum(len(encode_frame(docs)) for docs in groups)
    monkeypatch.setattr(journal, "_ensure_importer", start_importer)
    start_importer()
    assert journal.flush(30)
    assert journal.lag_bytes == 0
    assert journal.close()
