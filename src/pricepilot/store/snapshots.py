"""Snapshots of online-learning state: a policy's saved state as bytes, so a restarted server resumes.

Snapshots are appended; the latest per policy version wins (ordered by insertion, not by clock), and
:meth:`SnapshotStore.prune` drops all but the newest few.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from pricepilot.store.engine import StoreError, as_utc, utcnow
from pricepilot.store.schema import snapshots


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A saved state: ``policy_version`` (``'name@version'``), the bytes, and how many updates it holds."""

    policy_version: str
    state: bytes
    n_updates: int
    created_at: datetime


class SnapshotStore:
    """Append and read snapshots of learned state, on an engine whose schema is up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, policy_version: str, state: bytes, n_updates: int = 0) -> Snapshot:
        """Append a snapshot of ``policy_version``'s state after ``n_updates`` online updates."""
        if not policy_version:
            raise StoreError("policy_version is empty")
        if not isinstance(state, bytes | bytearray | memoryview):
            raise StoreError(f"state must be bytes, got {type(state).__name__}")
        if n_updates < 0:
            raise StoreError(f"n_updates must be >= 0, got {n_updates}")
        snap = Snapshot(policy_version, bytes(state), int(n_updates), utcnow())
        with self.engine.begin() as conn:
            conn.execute(
                snapshots.insert().values(
                    policy_version=snap.policy_version,
                    state=snap.state,
                    n_updates=snap.n_updates,
                    created_at=snap.created_at,
                )
            )
        return snap

    def latest(self, policy_version: str) -> Snapshot | None:
        """The newest snapshot of ``policy_version``, or None when it has none."""
        query = (
            select(snapshots)
            .where(snapshots.c.policy_version == policy_version)
            .order_by(snapshots.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().one_or_none()
        if row is None:
            return None
        return Snapshot(
            row["policy_version"], bytes(row["state"]), int(row["n_updates"]), as_utc(row["created_at"])
        )

    def prune(self, policy_version: str, keep: int = 3) -> int:
        """Delete all but the newest ``keep`` snapshots of ``policy_version``; return how many went."""
        if keep < 1:
            raise StoreError(f"keep must be at least 1, got {keep}")
        with self.engine.begin() as conn:
            kept = list(
                conn.scalars(
                    select(snapshots.c.id)
                    .where(snapshots.c.policy_version == policy_version)
                    .order_by(snapshots.c.id.desc())
                    .limit(keep)
                )
            )
            if len(kept) < keep:
                return 0
            gone = conn.execute(
                delete(snapshots).where(
                    snapshots.c.policy_version == policy_version, snapshots.c.id < min(kept)
                )
            )
            return int(gone.rowcount)
