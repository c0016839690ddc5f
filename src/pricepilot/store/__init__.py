"""Durable storage on SQLAlchemy: append-only events, the audit log of served offers and their outcomes,
the policy registry, and snapshots of online-learning state. SQLite (a file, WAL) by default,
PostgreSQL in production; the schema is created and migrated with Alembic (:func:`upgrade`).

>>> engine = make_engine("sqlite:///pricepilot.db")   # or "postgresql://user:pw@host/db"
>>> upgrade(engine)                                      # create or migrate the tables
>>> EventStore(engine).append([...])                     # how many of the batch were new

``store`` imports only ``pricepilot.types`` and ``pricepilot.data`` from the package.
"""

from pricepilot.store.artifacts import pack_dir, unpack_dir
from pricepilot.store.engine import DEFAULT_URL, StoreError, make_engine
from pricepilot.store.events import Event, EventStore, StoredEvent
from pricepilot.store.export import export_logged
from pricepilot.store.migrate import downgrade, upgrade
from pricepilot.store.offers import LoggedOffer, Offer, OfferLog, Outcome
from pricepilot.store.registry import PolicyRegistry, PolicyVersion
from pricepilot.store.schema import EVENT_KINDS, POLICY_STATUSES, metadata
from pricepilot.store.snapshots import Snapshot, SnapshotStore

__all__ = [
    "DEFAULT_URL",
    "EVENT_KINDS",
    "POLICY_STATUSES",
    "Event",
    "EventStore",
    "LoggedOffer",
    "Offer",
    "OfferLog",
    "Outcome",
    "PolicyRegistry",
    "PolicyVersion",
    "Snapshot",
    "SnapshotStore",
    "StoreError",
    "StoredEvent",
    "downgrade",
    "export_logged",
    "make_engine",
    "metadata",
    "pack_dir",
    "unpack_dir",
    "upgrade",
]
