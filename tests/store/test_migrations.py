from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from pricepilot.store import StoreError, downgrade, make_engine, metadata, upgrade


def _columns(engine: Engine) -> dict[str, list[str]]:
    insp = inspect(engine)
    return {
        t: [c["name"] for c in insp.get_columns(t)] for t in insp.get_table_names() if t != "alembic_version"
    }


def test_migrations_create_exactly_the_schema(engine: Engine) -> None:
    expected = {t.name: [c.name for c in t.columns] for t in metadata.sorted_tables}
    assert _columns(engine) == expected
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert MigrationContext.configure(conn).get_current_revision() == "0003"


def test_upgrade_is_repeatable_and_downgrade_empties(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    engine = make_engine(db_url)
    assert set(_columns(engine)) == set(metadata.tables)
    downgrade(engine, "base")
    assert _columns(engine) == {}
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", "bad database URL 'not a url'"),
        ("mysql://u:secret@h/db", "unsupported database URL 'mysql://u:\\*\\*\\*@h/db'"),
    ],
)
def test_bad_urls_are_named(url: str, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        make_engine(url)


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
