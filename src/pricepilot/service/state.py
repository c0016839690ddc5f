"""The live policy: the registry's active version, resumed from its latest snapshot, held in memory.

Deciding and learning share one lock (a policy's generator and learned state change on both). Every
``snapshot_every`` outcomes, and on shutdown, the policy's state and the guardrails' price history are
snapshotted to the store, so a restarted server resumes where the last snapshot left it.

Several workers (processes, ``pricepilot serve --workers N``, ``Settings.sync_seconds > 0``) share
learning through the store. Every outcome is recorded there before any policy learns from it, so the
store's outcomes are the one feed every worker learns from: a worker applies the outcomes of its live
version recorded since its cursor (:meth:`LiveState.sync`) every ``sync_seconds`` on a timer, and at
once when it has just recorded some itself (its own outcomes reach its policy without delay). Each
worker keeps, per outcome it applied within the last :data:`SYNC_LAG` before its cursor, the outcome's
id, and re-reads that window on each sync: an outcome whose transaction committed late (after one
recorded later by the clock) is still found, and none is applied twice, as long as commits land
within :data:`SYNC_LAG` of their ``observed_at`` (and the workers' clocks agree that closely). A sync
also follows the registry: a version promoted or rolled back through another worker goes live here at
the next sync.

A snapshot taken by a sharing worker carries its cursor and that window of applied ids
(``feed.json``), so a worker that loads it (on start, or following a promotion) learns exactly the
outcomes the snapshot has not seen; a version loaded from its registered artifact learns all of its
version's outcomes. A snapshot without ``feed.json`` (taken by a single worker) starts the cursor at
the time of loading. Each sharing worker reseeds the policy's generator with a key of its own, so
workers that load one state do not repeat each other's random draws.

Artifacts (what ``POST /v1/policies`` registers) are directories packed by
:func:`pricepilot.store.pack_dir`: a saved policy (``policy.json``, ``state.npz``) plus ``service.json``
naming the features the policy reads, in order. Snapshots add ``history.json``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from pricepilot.guardrails import Guardrails, PriceHistory
from pricepilot.policies import PolicyBase
from pricepilot.policies import load as load_policy
from pricepilot.service.settings import Settings
from pricepilot.store import PolicyRegistry, SnapshotStore, StoreError, pack_dir, unpack_dir
from pricepilot.store.engine import utcnow
from pricepilot.store.feed import offers_with_outcomes, outcomes_since
from pricepilot.types import OutcomeBatch

SERVICE_FILE = "service.json"
HISTORY_FILE = "history.json"
FEED_FILE = "feed.json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: How late (after its ``observed_at``) an outcome's commit may land and still be synced exactly once.
SYNC_LAG = timedelta(seconds=15)

log = logging.getLogger(__name__)


class NotReadyError(RuntimeError):
    """No version of the configured policy is active yet (promote one first)."""


def build_artifact(policy: PolicyBase, feature_names: tuple[str, ...] | list[str]) -> bytes:
    """Pack ``policy`` with the names of the features it reads (in order) into registrable bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "policy"
        policy.save(folder)
        (folder / SERVICE_FILE).write_text(json.dumps({"feature_names": list(feature_names)}))
        return pack_dir(folder)


def read_artifact(data: bytes) -> tuple[PolicyBase, tuple[str, ...], PriceHistory | None]:
    """The policy, its feature names and (in a snapshot) the price history packed in ``data``.

    Raises
    ------
    StoreError
        When ``data`` is not a packed policy with its ``service.json``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = unpack_dir(data, Path(tmp) / "policy")
        try:
            policy = load_policy(folder)
            meta = json.loads((folder / SERVICE_FILE).read_text())
            names = tuple(str(n) for n in meta["feature_names"])
            history_file = folder / HISTORY_FILE
            history = (
                PriceHistory.from_dict(json.loads(history_file.read_text()))
                if history_file.is_file()
                else None
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise StoreError(
                f"artifact is not a saved policy with {SERVICE_FILE} ({type(err).__name__}: {err})"
            ) from err
    return policy, names, history


def read_feed(data: bytes) -> tuple[datetime, dict[str, datetime]] | None:
    """The outcome-feed cursor and recently applied ids (id -> time) packed in a snapshot, or None
    when it has none (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = unpack_dir(data, Path(tmp) / "snapshot") / FEED_FILE
        if not path.is_file():
            return None
        try:
            feed = json.loads(path.read_text())
            cursor = datetime.fromisoformat(feed["cursor"])
            applied = {str(k): datetime.fromisoformat(v) for k, v in feed["applied"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise StoreError(f"snapshot's {FEED_FILE} is unreadable ({type(err).__name__}: {err})") from err
    return cursor, applied


@dataclass
class Live:
    """The serving policy and what travels with it."""

    tag: str
    policy: PolicyBase
    feature_names: tuple[str, ...]
    guardrails: Guardrails
    n_updates: int = 0
    since_snapshot: int = 0


class LiveState:
    """Holds the active version of ``settings.policy_name``; :meth:`reload` after a promotion."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = PolicyRegistry(engine)
        self.snapshots = SnapshotStore(engine)
        self.lock = threading.RLock()
        self._live: Live | None = None
        # the outcome feed's cursor, and the outcomes applied within SYNC_LAG before it (id -> time)
        self._cursor: datetime = utcnow()
        self._applied: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._worker_key = uuid.uuid4().int >> 65  # this worker's own stream of policy draws

    @property
    def shared(self) -> bool:
        """Whether this worker shares learning with others through the store (``sync_seconds > 0``)."""
        return self.settings.sync_seconds > 0

    def reload(self) -> Live | None:
        """Load the active version (from its latest snapshot when it has one); None when none is active."""
        name = self.settings.policy_name
        with self.lock:
            if self._live is not None:
                self.snapshot()
            active = self.registry.active(name)
            if active is None:
                self._live = None
                return None
            snap = self.snapshots.latest(active.tag)
            data = snap.state if snap is not None else self.registry.artifact(name, active.version)
            policy, names, history = read_artifact(data)
            feed = read_feed(data) if snap is not None else (EPOCH, {})
            self._cursor, self._applied = feed if feed is not None else (utcnow(), {})
            if self.shared:  # workers loading one state would otherwise repeat each other's draws
                policy.rng = np.random.default_rng([policy.seed, self._worker_key])
            policy.version = active.tag
            guardrails = Guardrails(self.settings.guardrails, history)
            n_updates = snap.n_updates if snap is not None else 0
            self._live = Live(active.tag, policy, names, guardrails, n_updates)
            return self._live

    def current(self) -> Live:
        """The live policy; :class:`NotReadyError` when no version is active."""
        live = self._live
        if live is None:
            raise NotReadyError(
                f"no active version of policy {self.settings.policy_name!r}: register one with "
                "POST /v1/policies and promote it"
            )
        return live

    @property
    def ready(self) -> bool:
        return self._live is not None

    def learn(self, outcomes: OutcomeBatch) -> None:
        """Update the live policy with ``outcomes`` (already recorded in the store); snapshot when
        ``snapshot_every`` is reached. A worker that shares learning syncs with the store instead, which
        applies these outcomes (and any other worker's not applied yet) exactly once."""
        with self.lock:
            live = self.current()
            if self.shared:
                self.sync()
                return
            self._apply(live, outcomes)
            self._snapshot_when_due(live)

    @staticmethod
    def _apply(live: Live, outcomes: OutcomeBatch) -> None:
        live.policy.update(outcomes)
        live.n_updates += outcomes.n
        live.since_snapshot += outcomes.n

    def _snapshot_when_due(self, live: Live) -> None:
        if live.since_snapshot >= self.settings.snapshot_every:
            self.snapshot()

    def sync(self) -> int:
        """Apply the outcomes of the live version recorded in the store that this worker has not applied
        yet (see the module docstring), after following the registry to its active version; return how
        many outcomes the policy learned from."""
        from pricepilot.service.ingest import learning_batch  # ingest builds on this module

        with self.lock:
            active = self.registry.active(self.settings.policy_name)
            if (active.tag if active is not None else None) != (self._live.tag if self._live else None):
                self.reload()
            live = self._live
            if live is None:
                return 0
            recent = outcomes_since(self.engine, live.tag, self._cursor - SYNC_LAG)
            fresh = {oid: at for oid, at in recent if oid not in self._applied}
            learned = 0
            if fresh:
                found = offers_with_outcomes(self.engine, list(fresh))
                batch = learning_batch(
                    live, [row for row, _ in found], [out for _, out in found], self.settings.objective_
                )
                if batch is not None:
                    self._apply(live, batch)
                    learned = batch.n
                self._applied.update(fresh)
                self._cursor = max(self._cursor, max(fresh.values()))
            horizon = self._cursor - SYNC_LAG
            self._applied = {oid: at for oid, at in self._applied.items() if at >= horizon}
            self._snapshot_when_due(live)  # after the cursor moved: the snapshot holds what it learned
            return learned

    def start_sync(self) -> None:
        """Sync every ``sync_seconds`` on a background thread (nothing when this is the only worker)."""
        if not self.shared or self._timer is not None:
            return
        self._stop.clear()
        self._timer = threading.Thread(target=self._sync_loop, name="pricepilot-sync", daemon=True)
        self._timer.start()

    def stop_sync(self) -> None:
        """Stop the sync thread (a last sync runs first, so no recorded outcome is left behind)."""
        timer, self._timer = self._timer, None
        if timer is None:
            return
        self._stop.set()
        timer.join()
        self._sync_logged()

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.settings.sync_seconds):
            self._sync_logged()

    def _sync_logged(self) -> None:
        try:
            self.sync()
        except (SQLAlchemyError, StoreError, ValueError):  # the next sync retries; serving goes on
            log.exception("syncing the live policy with the store failed")

    def snapshot(self) -> None:
        """Save the live policy's state and price history to the store (nothing when none is live)."""
        with self.lock:
            live = self._live
            if live is None:
                return
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "snapshot"
                live.policy.save(folder)
                (folder / SERVICE_FILE).write_text(json.dumps({"feature_names": list(live.feature_names)}))
                (folder / HISTORY_FILE).write_text(json.dumps(live.guardrails.history.to_dict()))
                if self.shared:
                    feed = {"cursor": self._cursor.isoformat(), "applied": self._applied}
                    (folder / FEED_FILE).write_text(json.dumps(feed, default=datetime.isoformat))
                data = pack_dir(folder)
            self.snapshots.save(live.tag, data, live.n_updates)
            self.snapshots.prune(live.tag, keep=3)
            live.since_snapshot = 0
