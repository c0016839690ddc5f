"""Schema migrations, run from code: ``upgrade(url)`` brings a database to the newest revision.

The Alembic environment ships inside the package (``pricepilot/store/migrations``), so users need no
``alembic.ini``. Developers add a revision with ``alembic -c <config> revision --autogenerate``
pointed at that folder (see ``migrations/README``), then check it with the store's tests.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Engine

from pricepilot.store.engine import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration for the packaged migrations that runs on ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) to ``revision`` (default: newest)."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    command.upgrade(alembic_config(engine), revision)


def downgrade(target: str | URL | Engine, revision: str) -> None:
    """Migrate the database at ``target`` back to ``revision`` (``'base'``: empty)."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    command.downgrade(alembic_config(engine), revision)
