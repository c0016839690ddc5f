"""The store's tables, as SQLAlchemy Core metadata: events, offers, outcomes, policies, snapshots.

Every table is append-only except ``policies.status`` (a registered version is promoted and retired).
The initial Alembic revision (``migrations/versions/0001_initial.py``) creates exactly these tables; a
test compares the two, so a change here needs a new revision there.

Times are stored in UTC. Visitor ids are pseudonymous integers (never an e-mail or a name).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: A surrogate key that auto-increments on both backends (SQLite only does so for INTEGER).
Serial = BigInteger().with_variant(Integer(), "sqlite")

EVENT_KINDS = ("view", "cart", "purchase", "review", "competitor_price", "quote", "offer_outcome")
POLICY_STATUSES = ("registered", "active", "retired")

events = Table(
    "events",
    metadata,
    Column("position", Serial, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("visitor_id", BigInteger, nullable=True),
    Column("item_id", BigInteger, nullable=True),
    Column("payload", JSON, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id"),
    CheckConstraint("kind IN ('" + "', '".join(EVENT_KINDS) + "')", name="kind"),
)

offers = Table(
    "offers",
    metadata,
    Column("offer_id", String(128), primary_key=True),
    Column("visitor_id", BigInteger, nullable=False),
    Column("item_id", BigInteger, nullable=False),
    Column("features", JSON, nullable=False),
    Column("feature_names", JSON, nullable=False),
    Column("action", Integer, nullable=False),
    Column("n_actions", Integer, nullable=False),
    Column("price", Float, nullable=False),
    Column("list_price", Float, nullable=False),
    Column("unit_cost", Float, nullable=True),
    Column("propensity", Float, nullable=False),
    Column("policy_version", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("propensity > 0 AND propensity <= 1", name="propensity"),
    CheckConstraint("action >= 0 AND action < n_actions", name="action"),
    CheckConstraint("price >= 0 AND list_price > 0", name="price"),
    Index(None, "policy_version", "created_at"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("offer_id", String(128), ForeignKey("offers.offer_id"), primary_key=True),
    Column("purchased", Boolean, nullable=False),
    Column("units", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("profit", Float, nullable=False),
    Column("reward", Float, nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("units >= 0", name="units"),
    Index(None, "observed_at"),  # the outcome feed workers share learning through (revision 0003)
)

policies = Table(
    "policies",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("artifact", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("name", "version"),
    CheckConstraint("status IN ('" + "', '".join(POLICY_STATUSES) + "')", name="status"),
    CheckConstraint("version >= 1", name="version"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("policy_version", String(128), nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("n_updates", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(None, "policy_version", "id"),
)

#: The item catalogue the service recommends from when a request names no candidates (revision 0003):
#: one row per item, replaced whole by an upsert.
items = Table(
    "items",
    metadata,
    Column("item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("list_price", Float, nullable=False),
    Column("unit_cost", Float, nullable=False),
    Column("features", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("list_price > 0 AND unit_cost >= 0", name="price"),
)
