"""Several workers share learning through the store: two apps on one database, each with its own policy."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pricepilot.cli import app as cli
from pricepilot.service import Settings, create_app
from pricepilot.service.state import SYNC_LAG, LiveState
from pricepilot.store import OfferLog, Outcome, make_engine
from pricepilot.store.engine import utcnow
from tests.service.conftest import Keys, artifact, imported, offer_request


@pytest.fixture
def settings(db_url: str) -> Settings:
    # a timer that never fires within a test: syncs happen when the test (or an outcome) asks
    return Settings(db_url=db_url, snapshot_every=1_000, sync_seconds=3_600.0)


@pytest.fixture
def workers(settings: Settings, keys: Keys) -> Iterator[tuple[TestClient, TestClient]]:
    """Two workers on one store; ``default@1`` registered and promoted through the first."""
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        r = a.post("/v1/policies", json={"name": "default", "artifact": artifact()}, headers=keys.admin)
        assert r.status_code == 201, r.text
        assert a.post("/v1/policies/default@1/promote", headers=keys.admin).status_code == 200
        yield a, b


def _state(client: TestClient) -> LiveState:
    state: LiveState = client.app.state.services.state  # type: ignore[attr-defined]
    return state


def _learned(client: TestClient) -> dict[str, np.ndarray]:
    live = _state(client).current()
    return {
        k: v.copy() for k, v in vars(live.policy).items() if k.endswith("_") and isinstance(v, np.ndarray)
    }


def _offer(client: TestClient, keys: Keys) -> str:
    r = client.post("/v1/offers", json=offer_request(n=1), headers=keys.offers)
    assert r.status_code == 200, r.text
    return str(r.json()["offers"][0]["offer_id"])


def _close(client: TestClient, keys: Keys, event_id: str, offer_id: str, bought: bool) -> dict[str, int]:
    event: dict[str, object] = {
        "event_id": event_id,
        "kind": "purchase" if bought else "offer_outcome",
        "occurred_at": "2026-11-30T10:00:00Z",
        "offer_id": offer_id,
    }
    if not bought:
        event["payload"] = {"purchased": False}
    r = client.post("/v1/events", json={"events": [event]}, headers=keys.events)
    assert r.status_code == 200, r.text
    answer: dict[str, int] = r.json()
    return answer


def test_an_outcome_posted_to_one_worker_reaches_the_other_once(
    workers: tuple[TestClient, TestClient], keys: Keys
) -> None:
    a, b = workers
    assert b.get("/readyz").status_code == 503  # b has not seen the promotion yet
    assert _state(b).sync() == 0  # ... and follows the registry at its next sync
    assert b.get("/readyz").json()["policy"] == "default@1"

    first = _offer(a, keys)
    before = _learned(b)
    assert _close(a, keys, "e1", first, bought=True)["learned"] == 1
    assert _state(a).current().n_updates == 1  # the receiving worker learns at once
    assert _state(b).current().n_updates == 0
    assert all(np.array_equal(before[k], v) for k, v in _learned(b).items())

    assert _state(b).sync() == 1
    assert _state(b).current().n_updates == 1
    assert any(not np.array_equal(before[k], v) for k, v in _learned(b).items())
    for key, value in _learned(a).items():  # one outcome, applied alike in both workers
        np.testing.assert_allclose(_learned(b)[key], value)

    # retries, to either worker, and repeated syncs apply nothing again
    assert _close(b, keys, "e1", first, bought=True)["learned"] == 0
    assert _close(b, keys, "e1-retry", first, bought=True)["learned"] == 0
    assert _state(a).sync() == _state(b).sync() == 0

    second = _offer(b, keys)
    assert _close(b, keys, "e2", second, bought=False)["learned"] == 1
    assert _state(a).sync() == 1
    assert _state(a).sync() == _state(b).sync() == 0
    assert _state(a).current().n_updates == _state(b).current().n_updates == 2
    assert OfferLog(make_engine(_state(a).settings.db_url)).count() == (2, 2)


def test_workers_draw_their_own_random_numbers(workers: tuple[TestClient, TestClient]) -> None:
    a, b = workers
    _state(b).sync()
    draws = [_state(w).current().policy.rng.random(4) for w in (a, b)]
    assert not np.array_equal(draws[0], draws[1])


def test_an_outcome_committed_late_is_synced_once(workers: tuple[TestClient, TestClient], keys: Keys) -> None:
    a, b = workers
    _state(b).sync()
    early, late = _offer(a, keys), _offer(a, keys)
    _close(a, keys, "e1", early, bought=True)
    assert _state(b).sync() == 1
    # an outcome whose transaction landed after b's cursor moved past its observed_at (within SYNC_LAG)
    stamp = utcnow() - SYNC_LAG / 3
    log = OfferLog(make_engine(_state(a).settings.db_url))
    assert log.record_outcomes([Outcome(late, False, 0, 0.0, 0.0, 0.0, observed_at=stamp)]) == 1
    assert _state(b).sync() == 1
    assert _state(b).sync() == 0
    assert _state(b).current().n_updates == 2


def test_the_window_behind_the_cursor_is_sync_lag(workers: tuple[TestClient, TestClient], keys: Keys) -> None:
    """An outcome whose commit lands more than SYNC_LAG after its ``observed_at`` (behind a cursor that
    moved on) is not found: the documented limit of the feed."""
    a, b = workers
    _state(b).sync()
    _close(a, keys, "e1", _offer(a, keys), bought=True)
    assert _state(b).sync() == 1
    offer_id = _offer(a, keys)
    imported(a)
    log = OfferLog(make_engine(_state(a).settings.db_url))
    stamp = utcnow() - SYNC_LAG - timedelta(seconds=60)
    log.record_outcomes([Outcome(offer_id, True, 1, 10.0, 4.0, 4.0, observed_at=stamp)])
    assert _state(b).sync() == 0
    # a worker that loads the version from its artifact learns every outcome of it, old ones too
    with TestClient(create_app(_state(a).settings)) as c:
        assert _state(c).sync() == 2


def test_a_worker_loading_a_snapshot_learns_only_what_it_has_not_seen(settings: Settings, keys: Keys) -> None:
    every = replace(settings, snapshot_every=1)  # each outcome is snapshotted with the feed's cursor
    with TestClient(create_app(every)) as a, TestClient(create_app(every)) as b:
        a.post("/v1/policies", json={"name": "default", "artifact": artifact()}, headers=keys.admin)
        a.post("/v1/policies/default@1/promote", headers=keys.admin)
        _close(a, keys, "e1", _offer(a, keys), bought=True)
        assert _state(a).current().n_updates == 1
        assert _state(b).sync() == 0  # b follows the promotion from a's snapshot, which holds e1
        assert _state(b).current().n_updates == 1
        _close(a, keys, "e2", _offer(a, keys), bought=False)
    # a restarted worker resumes from the last snapshot and its cursor: nothing replayed, nothing lost
    with TestClient(create_app(every)) as c:
        assert _state(c).current().n_updates == 2
        assert _state(c).sync() == 0
        _close(c, keys, "e3", _offer(c, keys), bought=True)
        assert _state(c).current().n_updates == 3


def test_the_timer_syncs_on_its_own(settings: Settings, keys: Keys) -> None:
    quick = replace(settings, sync_seconds=0.05)
    with TestClient(create_app(quick)) as a, TestClient(create_app(quick)) as b:
        a.post("/v1/policies", json={"name": "default", "artifact": artifact()}, headers=keys.admin)
        a.post("/v1/policies/default@1/promote", headers=keys.admin)
        offer_id = _offer(a, keys)
        _close(a, keys, "e1", offer_id, bought=True)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not (_state(b).ready and _state(b).current().n_updates == 1):
            time.sleep(0.05)
        assert _state(b).current().n_updates == 1


@pytest.mark.parametrize(("raw", "match"), [("-1", "sync_seconds"), ("often", "SYNC_SECONDS")])
def test_bad_sync_seconds_are_named(raw: str, match: str) -> None:
    from pricepilot.service import load_settings

    with pytest.raises(ValueError, match=match):
        load_settings({"PRICEPILOT_SYNC_SECONDS": raw})


def test_serve_with_workers_runs_the_app_factory_per_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    calls: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append((target, kw)))
    monkeypatch.setattr(
        os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("PRICEPILOT_")}
    )
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(cli, ["serve", "--db", db, "--workers", "3", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [(target, options)] = calls
    assert target == "pricepilot.service.app:create_app"
    assert options["factory"] is True
    assert options["workers"] == 3
    assert options["port"] == 8123
    assert os.environ["PRICEPILOT_DB_URL"] == db
    assert float(os.environ["PRICEPILOT_SYNC_SECONDS"]) > 0


def test_an_outcome_sent_to_another_worker_waits_for_the_offer_to_be_imported(
    workers: tuple[TestClient, TestClient], keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offer answered by worker a is in a's journal until a's importer stores it; an outcome for
    it sent to worker b meanwhile waits for it (the grace after the offer's time) and is joined."""
    a, b = workers
    journal = a.app.state.services.offers.journal  # type: ignore[attr-defined]
    if journal is None:
        pytest.skip("offers are journaled on an SQLite file only (committed before the answer elsewhere)")
    _state(b).sync()
    start_importer = journal._ensure_importer
    monkeypatch.setattr(journal, "_ensure_importer", lambda: None)  # a's offers stay in its journal
    offer_id = _offer(a, keys)
    assert OfferLog(make_engine(_state(a).settings.db_url)).count()[0] == 0
    answer: dict[str, object] = {}

    def post() -> None:
        answer.update(_close(b, keys, "e-early", offer_id, bought=True))

    thread = threading.Thread(target=post)
    thread.start()
    time.sleep(0.2)
    assert thread.is_alive()  # b waits for the offer
    monkeypatch.setattr(journal, "_ensure_importer", start_importer)
    start_importer()  # a's importer stores the offer: b finds it
    thread.join(timeout=30)
    assert answer["outcomes"] == 1


@pytest.mark.parametrize("offer_id", ["0" * 32, "not-an-offer-id", "f" * 12 + "0" * 20])
def test_an_outcome_for_an_offer_never_served_is_refused(
    workers: tuple[TestClient, TestClient], keys: Keys, offer_id: str
) -> None:
    """Ids never served are refused: an id of another form, one whose time is long past, and one
    claiming a time to come (not waited for)."""
    _, b = workers
    event = {"event_id": "e", "kind": "purchase", "occurred_at": "2026-11-30T10:00:00Z", "offer_id": offer_id}
    r = b.post("/v1/events", json={"events": [event]}, headers=keys.events)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "offer_id"
