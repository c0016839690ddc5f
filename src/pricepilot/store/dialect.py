"""The one statement that differs between backends: insert, skipping rows whose key already exists.

Rows go to the driver as one ``executemany`` of a statement built once per table (SQLAlchemy caches
its compiled form and, with ``RETURNING``, sends them as multi-row ``INSERT ... VALUES`` pages), so
the cost per row is the driver's, not the statement compiler's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


@lru_cache(maxsize=64)
def _statement(table: Table, key: str, dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])


def insert_returning_keys(
    conn: Connection, table: Table, rows: Sequence[dict[str, object]], key: str
) -> set[object]:
    """Insert ``rows`` into ``table`` inside the caller's transaction, skipping any whose ``key``
    column is already stored (or repeated earlier in ``rows``); return the keys of the rows inserted.
    Every row must have the same columns."""
    seen: set[object] = set()
    unique = []
    for row in rows:
        if row[key] not in seen:
            seen.add(row[key])
            unique.append(row)
    if not unique:
        return set()
    stmt = _statement(table, key, conn.dialect.name)
    return set(conn.execute(stmt, unique).scalars().all())


def insert_ignoring_duplicates(
    conn: Connection, table: Table, rows: Sequence[dict[str, object]], key: str
) -> int:
    """Insert ``rows`` into ``table`` inside the caller's transaction, skipping any whose ``key``
    column is already stored (or repeated earlier in ``rows``); return how many were inserted."""
    return len(insert_returning_keys(conn, table, rows, key))
