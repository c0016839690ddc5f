"""A real server killed with SIGKILL while it ingests events (issue 5, point 3), on each backend, and
while it serves offers (every answered offer is in the audit log after a restart).

``pricepilot serve`` runs as a subprocess (uvicorn) on a store; a client thread posts event batches
back to back; the server is killed with SIGKILL mid-stream and restarted on the same database. Then:
every event of a batch acknowledged (2xx) before the kill is stored, none is stored twice, and
re-sending the batches that were not acknowledged (plus one that was) completes the set exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from pricepilot.service import create_key
from pricepilot.store import make_engine, upgrade
from pricepilot.store.schema import events, offers
from tests.service.conftest import artifact, offer_request

BATCH = 200
N_BATCHES = 400  # more than can be sent before the kill: some are never acknowledged
KILL_AFTER_ACKED = 8
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(db_url: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``pricepilot serve`` on ``db_url``, answering /healthz; killed (if still alive) on exit."""
    argv = [sys.executable, "-m", "pricepilot.cli", "serve", "--db", db_url, "--port", str(port)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the server did not answer within {START_TIMEOUT_S} s: {log.read_text()[-2000:]}"
                )
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _migrated_with_keys(db_url: str, *scopes: list[str]) -> list[dict[str, str]]:
    """Migrate the store at ``db_url`` and create one key per list of scopes: their request headers."""
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        return [{"Authorization": f"Bearer {create_key(engine, s)}"} for s in scopes]
    finally:
        engine.dispose()


def _batch(i: int) -> dict[str, object]:
    return {
        "events": [
            {
                "event_id": f"b{i}-e{j}",
                "kind": "view",
                "occurred_at": "2026-11-30T10:00:00Z",
                "visitor_id": j,
                "item_id": i,
            }
            for j in range(BATCH)
        ]
    }


@dataclass
class Sender:
    """Posts batches 0, 1, ... until the connection fails; keeps which were acknowledged."""

    url: str
    headers: dict[str, str]
    acked: list[int] = field(default_factory=list)
    failed: int | None = None
    refused: list[tuple[int, int]] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30.0) as client:
            for i in range(N_BATCHES):
                try:
                    r = client.post("/v1/events", json=_batch(i))
                except httpx.TransportError:
                    self.failed = i
                    return
                if r.is_success:
                    self.acked.append(i)
                else:
                    self.refused.append((i, r.status_code))
                    return


def _stored_ids(db_url: str) -> tuple[set[str], int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            ids = set(conn.scalars(select(events.c.event_id)))
            rows = int(conn.scalar(select(func.count()).select_from(events)) or 0)
    finally:
        engine.dispose()
    return ids, rows


def _ids(batches: list[int]) -> set[str]:
    return {f"b{i}-e{j}" for i in batches for j in range(BATCH)}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_sigkill_during_ingestion_loses_no_acknowledged_event(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # two server starts per backend (a few seconds each, mostly imports): PostgreSQL's run is marked slow
    db_url = (
        f"sqlite:///{tmp_path / 'crash.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    (headers,) = _migrated_with_keys(db_url, ["events"])
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"

    with _server(db_url, port, log) as proc:
        sender = Sender(url, headers)
        thread = threading.Thread(target=sender.run, daemon=True)
        thread.start()
        while len(sender.acked) < KILL_AFTER_ACKED and thread.is_alive():
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert sender.refused == []
    assert len(sender.acked) >= KILL_AFTER_ACKED
    assert sender.failed is not None, "the kill came after every batch was sent"

    with _server(db_url, port, log):
        ids, rows = _stored_ids(db_url)
        assert _ids(sender.acked) <= ids  # every acknowledged event survived the kill
        assert rows == len(ids)  # none twice
        # the batch in flight at the kill is either whole or absent: a batch is one transaction
        in_flight = _ids([sender.failed])
        assert in_flight <= ids or not (in_flight & ids)
        assert ids <= _ids([*sender.acked, sender.failed])

        resend = [sender.acked[-1], sender.failed, sender.failed + 1, sender.failed + 2]
        with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:
            stored = []
            for i in resend:
                r = client.post("/v1/events", json=_batch(i))
                assert r.status_code == 200, r.text
                stored.append(r.json()["stored"])
        after, rows_after = _stored_ids(db_url)
    assert after == _ids([*sender.acked, *resend])  # complete, exactly once
    assert rows_after == len(after)
    assert sum(stored) == len(after) - len(ids)  # re-sent events already stored were not stored again


def _importers(pid: int) -> list[int]:
    """The server's live child processes (its offer journal's importer)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(c) for c in task.read_text().split()]
    return found


@dataclass
class OfferSender:
    """Posts offer requests back to back until the connection fails; keeps the answered offer ids."""

    url: str
    headers: dict[str, str]
    answered: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30.0) as client:
            for _ in range(100_000):
                try:
                    r = client.post("/v1/offers", json=offer_request(n=3))
                except httpx.TransportError:
                    return
                if not r.is_success:
                    self.refused.append(r.status_code)
                    return
                self.answered += [o["offer_id"] for o in r.json()["offers"]]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the importer in /proc (Linux)")
@pytest.mark.parametrize("importer_too", [False, True], ids=["server", "server-and-importer"])
def test_sigkill_while_serving_offers_loses_no_answered_offer(tmp_path: Path, importer_too: bool) -> None:
    """On an SQLite file the offers are answered once in the worker's journal: killed with its importer
    or without, no answered offer is missing from the audit log once the server is back."""
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    admin, headers = _migrated_with_keys(db_url, ["admin"], ["offers", "events"])
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with _server(db_url, port, log) as proc:
        r = httpx.post(f"{url}/v1/policies", json={"name": "default", "artifact": artifact()}, headers=admin)
        assert r.status_code == 201, r.text
        assert httpx.post(f"{url}/v1/policies/default@1/promote", headers=admin).status_code == 200
        sender = OfferSender(url, headers)
        thread = threading.Thread(target=sender.run, daemon=True)
        thread.start()
        while len(sender.answered) < 600 and thread.is_alive():
            time.sleep(0.005)
        importers = _importers(proc.pid)
        assert len(importers) == 1
        if importer_too:
            os.kill(importers[0], signal.SIGKILL)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert sender.refused == []
    journal = tmp_path / "crash.db.offer-journal"
    if not importer_too:  # the importer finishes the journal of its killed worker on its own
        deadline = time.monotonic() + 30
        while any(journal.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(journal.iterdir()) == []
    left = set(journal.iterdir())
    assert bool(left) == importer_too
    with _server(db_url, port, log):  # a start recovers what is left (and starts a journal of its own)
        assert not left & set(journal.iterdir())
        engine = make_engine(db_url)
        try:
            with engine.connect() as conn:
                logged = set(conn.scalars(select(offers.c.offer_id)))
        finally:
            engine.dispose()
        assert set(sender.answered) <= logged  # every answered offer is in the audit log
        event = {
            "event_id": "bought-last",
            "kind": "purchase",
            "occurred_at": "2026-11-30T10:00:00Z",
            "offer_id": sender.answered[-1],
            "units": 1,
        }
        r = httpx.post(f"{url}/v1/events", json={"events": [event]}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["outcomes"] == 1
