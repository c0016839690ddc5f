"""The append-only event log: raw behavioural records, ingested idempotently by their ``event_id``.

A client that retries a batch (after a timeout, say) sends the same ids again; they are stored once,
and :meth:`EventStore.append` says how many of the batch were new. A batch is written in one
transaction: a bad record anywhere in it leaves nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from pricepilot.store.dialect import insert_ignoring_duplicates
from pricepilot.store.engine import StoreError, as_utc, utcnow
from pricepilot.store.schema import EVENT_KINDS, events

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None


@dataclass(frozen=True, slots=True)
class Event:
    """One behavioural record.

    Attributes
    ----------
    event_id : str, unique per event, chosen by the sender (retries reuse it); 1 to 128 characters
    kind : str, one of ``EVENT_KINDS`` (view, cart, purchase, review, competitor_price, quote,
        offer_outcome)
    occurred_at : datetime, timezone-aware, when it happened
    visitor_id, item_id : int or None, pseudonymous visitor and item
    payload : mapping of str to JSON values (price seen, units, review text, competitor, ...)
    """

    event_id: str
    kind: str
    occurred_at: datetime
    visitor_id: int | None = None
    item_id: int | None = None
    payload: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.event_id, str) or not 0 < len(self.event_id) <= 128:
            raise StoreError(f"event_id must be a string of 1 to 128 characters, got {self.event_id!r}")
        if self.kind not in EVENT_KINDS:
            raise StoreError(f"event {self.event_id!r}: unknown kind {self.kind!r}; use one of {EVENT_KINDS}")
        if self.occurred_at.tzinfo is None:
            raise StoreError(
                f"event {self.event_id!r}: occurred_at {self.occurred_at} has no timezone; "
                "pass an aware datetime (for example datetime.now(UTC))"
            )


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its position in the log (increasing in arrival order) and arrival time."""

    position: int
    received_at: datetime
    event: Event


def _row(ev: Event, received_at: datetime) -> dict[str, object]:
    try:
        payload = json.loads(json.dumps(dict(ev.payload), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise StoreError(f"event {ev.event_id!r}: payload is not JSON ({err}); nothing was written") from err
    return {
        "event_id": ev.event_id,
        "kind": ev.kind,
        "visitor_id": ev.visitor_id,
        "item_id": ev.item_id,
        "payload": payload,
        "occurred_at": as_utc(ev.occurred_at),
        "received_at": received_at,
    }


class EventStore:
    """Append-only, idempotent event log on an engine whose schema is up to date (see ``upgrade``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, batch: Sequence[Event]) -> int:
        """Store the events of ``batch`` not stored before, in one transaction; return how many.

        Raises
        ------
        StoreError
            When an event's payload is not JSON; nothing of the batch is written then.
        """
        now = utcnow()
        rows = [_row(ev, now) for ev in batch]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            return insert_ignoring_duplicates(conn, events, rows, key="event_id")

    def count(self) -> int:
        """Number of stored events."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar_one())

    def read(self, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Up to ``limit`` events with a position greater than ``after``, oldest first (for tailing)."""
        query = select(events).where(events.c.position > after).order_by(events.c.position).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            StoredEvent(
                position=int(r["position"]),
                received_at=as_utc(r["received_at"]),
                event=Event(
                    event_id=r["event_id"],
                    kind=r["kind"],
                    occurred_at=as_utc(r["occurred_at"]),
                    visitor_id=r["visitor_id"],
                    item_id=r["item_id"],
                    payload=r["payload"],
                ),
            )
            for r in rows
        ]
