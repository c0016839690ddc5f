"""The append-only event log: raw behavioural records, ingested idempotently by their ``event_id``.

A client that retries a batch (after a timeout, say) sends the same ids again; they are stored once,
and :meth:`EventStore.append` says how many of the batch were new. A batch is written in one
transaction: a bad record anywhere in it leaves nothing written.

Batches go to the database in bulk, past SQLAlchemy's per-value processing: the batch travels as one
JSON array of rows, and one ``INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING`` unpacks it
(``json_each`` on SQLite, ``jsonb_array_elements`` on PostgreSQL): one statement and one round trip per
batch, and on SQLite one step of the engine, so the server's other threads run meanwhile (an
``executemany`` takes and releases Python's GIL once per row).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from pricepilot.store.engine import StoreError, as_utc, sqlite_time, utcnow
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


def _finite(value: object) -> bool:
    """Whether every number in a JSON-like value is finite (orjson would write NaN as null)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


def _payload_json(ev: Event) -> str:
    """The payload as JSON text; a :class:`StoreError` when it is not JSON (NaN, sets, objects)."""
    payload = dict(ev.payload)
    if _finite(payload):
        try:
            return orjson.dumps(payload).decode()
        except TypeError:
            pass  # orjson refuses some JSON (integers beyond 64 bits, non-string keys): ask json
    try:
        return json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise StoreError(f"event {ev.event_id!r}: payload is not JSON ({err}); nothing was written") from err


_COLUMNS = ("event_id", "kind", "visitor_id", "item_id", "payload", "occurred_at", "received_at")

#: an event as :meth:`EventStore.append_rows` takes it: event_id, kind, visitor_id, item_id, the payload
#: as JSON text, and occurred_at (timezone-aware, UTC)
EventRow: TypeAlias = tuple[str, str, int | None, int | None, str, datetime]


def event_row(ev: Event) -> EventRow:
    """``ev`` as a row for :meth:`EventStore.append_rows`; a :class:`StoreError` when its payload is
    not JSON."""
    return (ev.event_id, ev.kind, ev.visitor_id, ev.item_id, _payload_json(ev), as_utc(ev.occurred_at))


_PG_INSERT = (  # the batch travels as one JSON array of rows: one parameter, parsed by the server
    f"INSERT INTO events ({', '.join(_COLUMNS)}) "
    "SELECT r->>0, r->>1, (r->>2)::bigint, (r->>3)::bigint, (r->>4)::json, (r->>5)::timestamptz, %s "
    "FROM jsonb_array_elements(%s::jsonb) AS r ON CONFLICT (event_id) DO NOTHING"  # jsonb: parsed once
)
_SQLITE_INSERT = (
    f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (event_id) DO NOTHING"
)
_SQLITE_JSON_INSERT = (  # the same for SQLite: one statement, one step (the GIL is released once)
    f"INSERT INTO events ({', '.join(_COLUMNS)}) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
    "json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), ? "
    "FROM json_each(?) WHERE true ON CONFLICT (event_id) DO NOTHING"
)


def insert_events(conn: Connection, rows: Sequence[EventRow], received_at: datetime) -> int:
    """Insert ``rows`` (event_id, kind, visitor_id, item_id, payload JSON, occurred_at in UTC) in the
    caller's transaction, skipping ids stored before or repeated in ``rows``; return how many were new."""
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    if not unique:
        return 0
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute(_PG_INSERT, [received_at, orjson.dumps(unique).decode()])
        else:
            when = sqlite_time(received_at)
            packed = [(*r[:5], sqlite_time(r[5])) for r in unique]
            try:
                cursor.execute(_SQLITE_JSON_INSERT, [when, orjson.dumps(packed).decode()])
            except sqlite3.OperationalError as err:  # an SQLite built without its JSON functions
                if "json" not in str(err):
                    raise
                cursor.executemany(_SQLITE_INSERT, [(*r, when) for r in packed])
        return int(cursor.rowcount)
    finally:
        cursor.close()


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
        return self.append_rows([event_row(ev) for ev in batch])

    def append_rows(self, rows: Sequence[EventRow]) -> int:
        """Store rows made by :func:`event_row` (or checked as it checks: an event id of 1 to 128
        characters, a known kind, the payload as JSON text, an aware UTC time) not stored before, in
        one transaction; return how many were new."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            return insert_events(conn, rows, utcnow())

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
