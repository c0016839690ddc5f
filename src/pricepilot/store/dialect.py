"""The one statement that differs between backends: insert, skipping rows whose key already exists."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

CHUNK = 1000


def insert_ignoring_duplicates(
    conn: Connection, table: Table, rows: Sequence[dict[str, object]], key: str
) -> int:
    """Insert ``rows`` into ``table`` inside the caller's transaction, skipping any whose ``key``
    column is already stored (or repeated earlier in ``rows``); return how many were inserted."""
    seen: set[object] = set()
    unique = []
    for row in rows:
        if row[key] not in seen:
            seen.add(row[key])
            unique.append(row)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    new = 0
    for start in range(0, len(unique), CHUNK):
        stmt = (
            insert(table)
            .values(unique[start : start + CHUNK])
            .on_conflict_do_nothing(index_elements=[key])
            .returning(table.c[key])
        )
        new += len(conn.execute(stmt).all())
    return new
