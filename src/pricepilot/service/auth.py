"""API keys: random tokens stored only as SHA-256 hashes, each with scopes (offers, events, admin).

The ``api_keys`` table belongs to the service (its own metadata, created on start in the store's
database). A key is shown once, when :func:`create_key` makes it; the database keeps its hash, so a
leaked database does not leak usable keys. ``admin`` grants every scope.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, MetaData, String, Table, select
from sqlalchemy.engine import Engine

from pricepilot.store.engine import utcnow

SCOPES = ("offers", "events", "admin")
TOKEN_PREFIX = "pp_"

service_metadata = MetaData()

api_keys = Table(
    "api_keys",
    service_metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("scopes", String(128), nullable=False),
    Column("label", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: its scopes and label (never the token itself)."""

    scopes: frozenset[str]
    label: str

    def allows(self, scope: str) -> bool:
        """Whether this key may use routes of ``scope``."""
        return scope in self.scopes or "admin" in self.scopes


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes as a set; a ValueError names an unknown one."""
    chosen = frozenset(s.strip() for s in scopes if s.strip())
    unknown = sorted(chosen - set(SCOPES))
    if unknown or not chosen:
        raise ValueError(f"scopes must be a non-empty subset of {list(SCOPES)}, got {sorted(chosen)}")
    return chosen


def ensure_tables(engine: Engine) -> None:
    """Create the service's tables when missing."""
    service_metadata.create_all(engine, checkfirst=True)


def create_key(engine: Engine, scopes: Iterable[str], label: str = "") -> str:
    """Store a new key with ``scopes`` and return its token (shown once; only its hash is kept)."""
    chosen = check_scopes(scopes)
    ensure_tables(engine)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {
        "key_hash": hash_token(token),
        "scopes": ",".join(sorted(chosen)),
        "label": label[:128],
        "created_at": utcnow(),
    }
    with engine.begin() as conn:
        conn.execute(api_keys.insert().values(row))
    return token


def lookup_key(engine: Engine, token: str) -> ApiKey | None:
    """The key stored for ``token``, or None when there is none."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        return None
    query = select(api_keys.c.scopes, api_keys.c.label).where(api_keys.c.key_hash == hash_token(token))
    with engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    if row is None:
        return None
    return ApiKey(frozenset(str(row.scopes).split(",")), str(row.label))
