"""The live policy: the registry's active version, resumed from its latest snapshot, held in memory.

Deciding and learning share one lock (a policy's generator and learned state change on both). Every
``snapshot_every`` outcomes, and on shutdown, the policy's state and the guardrails' price history are
snapshotted to the store, so a restarted server resumes where the last snapshot left it.

Artifacts (what ``POST /v1/policies`` registers) are directories packed by
:func:`pricepilot.store.pack_dir`: a saved policy (``policy.json``, ``state.npz``) plus ``service.json``
naming the features the policy reads, in order. Snapshots add ``history.json``.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from pricepilot.guardrails import Guardrails, PriceHistory
from pricepilot.policies import PolicyBase
from pricepilot.policies import load as load_policy
from pricepilot.service.settings import Settings
from pricepilot.store import PolicyRegistry, SnapshotStore, StoreError, pack_dir, unpack_dir
from pricepilot.types import OutcomeBatch

SERVICE_FILE = "service.json"
HISTORY_FILE = "history.json"


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
        """Update the live policy with ``outcomes``; snapshot when ``snapshot_every`` is reached."""
        with self.lock:
            live = self.current()
            live.policy.update(outcomes)
            live.n_updates += outcomes.n
            live.since_snapshot += outcomes.n
            if live.since_snapshot >= self.settings.snapshot_every:
                self.snapshot()

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
                data = pack_dir(folder)
            self.snapshots.save(live.tag, data, live.n_updates)
            self.snapshots.prune(live.tag, keep=3)
            live.since_snapshot = 0
