"""Fixtures: every store test runs on SQLite (a temporary file) and on PostgreSQL (``pg_url``, from
``tests/conftest.py``).

PostgreSQL comes from ``PRICEPILOT_TEST_PG_URL`` (a server where the user may CREATE DATABASE; each
test gets a fresh database) or, when that is unset, from a private throwaway cluster started with the
``initdb``/``pg_ctl`` found on PATH or under ``/usr/lib/postgresql/*/bin`` (as the ``postgres`` user
when the tests run as root). The PostgreSQL tests skip, saying why, only when no server binaries exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from pricepilot.store import make_engine, upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database of each backend, migrated to the newest schema."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()
