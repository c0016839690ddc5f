"""Alembic environment of the store: runs on the engine ``pricepilot.store.migrate`` passes in, or on
``sqlalchemy.url`` from the configuration when run from the ``alembic`` command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from pricepilot.store.engine import make_engine
from pricepilot.store.schema import metadata


def run_migrations_online() -> None:
    config = context.config
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
