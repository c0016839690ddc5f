"""``make_engine``: an SQLAlchemy engine for a SQLite file (the default) or a PostgreSQL server.

SQLite connections are set up for a small server: write-ahead logging (readers never block the
writer), ``synchronous=NORMAL`` (durable across a process crash; a power cut may lose the last
commits), foreign keys enforced, and a busy timeout instead of an immediate "database is locked".
PostgreSQL URLs use the psycopg (3) driver whatever driver they name. JSON columns are written
with orjson (several times faster than the standard library on the hot paths: offer features, event
payloads), falling back to :mod:`json` for what orjson refuses (integers beyond 64 bits).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_URL = "sqlite:///pricepilot.db"
BUSY_TIMEOUT_MS = 10_000


class StoreError(ValueError):
    """A request the store cannot carry out: a bad URL, a bad record, an unknown policy version."""


def parse_url(url: str | URL) -> URL:
    """The URL with the driver the store uses; a :class:`StoreError` names a bad or unsupported one."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreError(
            f"bad database URL {str(url)!r}: expected for example 'sqlite:///pricepilot.db' or "
            "'postgresql://user:password@host:5432/pricepilot'"
        ) from err
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "the store runs on SQLite ('sqlite:///path.db') or PostgreSQL ('postgresql://...')"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def json_dumps(value: Any) -> str:
    """``value`` as JSON text (orjson; the standard library for integers orjson cannot hold)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str | URL = DEFAULT_URL, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (default ``sqlite:///pricepilot.db``, a file in the working directory).

    Raises
    ------
    StoreError
        When the URL cannot be parsed or names another database than SQLite or PostgreSQL.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, echo=echo, json_serializer=json_dumps)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True, json_serializer=json_dumps)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A time read back from the database as an aware UTC datetime (SQLite returns naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_time(value: datetime) -> str:
    """A time (aware, any zone) as SQLAlchemy's SQLite ``DateTime`` stores it: UTC text with
    microseconds, ``2026-11-30 12:00:00.000000``."""
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
