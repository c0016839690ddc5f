"""API keys: random tokens stored only as SHA-256 hashes, each with scopes (offers, events, admin).

The ``api_keys`` and ``api_key_revocations`` tables belong to the service (its own metadata, created on
start in the store's database). A key is shown once, when :func:`create_key` makes it; the database
keeps its hash, so a leaked database does not leak usable keys. ``admin`` grants every scope.

A key is named by its *key id*, the first :data:`KEY_ID_LENGTH` hex digits of its hash: safe to show
(:func:`list_keys`, ``pricepilot keys list``) and enough to revoke it (:func:`revoke_key`). A revoked
key is refused (401) from the next request on in the process that revoked it, and within
:data:`pricepilot.service.keycache.KEY_TTL_SECONDS` (2 s) on every other worker; revocations are kept
(append-only), never deleted.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, MetaData, String, Table, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from pricepilot.store.engine import as_utc, utcnow

SCOPES = ("offers", "events", "admin")
TOKEN_PREFIX = "pp_"
KEY_ID_LENGTH = 12
_HEX = frozenset("0123456789abcdef")

service_metadata = MetaData()

api_keys = Table(
    "api_keys",
    service_metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("scopes", String(128), nullable=False),
    Column("label", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_key_revocations = Table(
    "api_key_revocations",
    service_metadata,
    Column("key_hash", String(64), ForeignKey("api_keys.key_hash"), primary_key=True),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: its scopes and label (never the token itself)."""

    scopes: frozenset[str]
    label: str
    key_id: str = ""

    def allows(self, scope: str) -> bool:
        """Whether this key may use routes of ``scope``."""
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listed: its id (a prefix of its hash), scopes, label, and when it was made and revoked."""

    key_id: str
    scopes: frozenset[str]
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (requests with it get 401)."""
        return self.revoked_at is not None


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
    """The key stored for ``token``, or None when there is none or it was revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        return None
    digest = hash_token(token)
    query = (
        select(api_keys.c.scopes, api_keys.c.label, api_key_revocations.c.revoked_at)
        .outerjoin(api_key_revocations, api_key_revocations.c.key_hash == api_keys.c.key_hash)
        .where(api_keys.c.key_hash == digest)
    )
    with engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return ApiKey(frozenset(str(row.scopes).split(",")), str(row.label), digest[:KEY_ID_LENGTH])


def list_keys(engine: Engine) -> list[KeyInfo]:
    """Every stored key (revoked ones too), oldest first; never the tokens themselves."""
    ensure_tables(engine)
    query = (
        select(api_keys, api_key_revocations.c.revoked_at)
        .outerjoin(api_key_revocations, api_key_revocations.c.key_hash == api_keys.c.key_hash)
        .order_by(api_keys.c.created_at, api_keys.c.key_hash)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        KeyInfo(
            key_id=str(r.key_hash)[:KEY_ID_LENGTH],
            scopes=frozenset(str(r.scopes).split(",")),
            label=str(r.label),
            created_at=as_utc(r.created_at),
            revoked_at=None if r.revoked_at is None else as_utc(r.revoked_at),
        )
        for r in rows
    ]


def revoke_key(engine: Engine, key_id: str) -> KeyInfo:
    """Revoke the key whose id (or a longer prefix of its hash) is ``key_id``; return it as revoked.

    Revoking a key twice changes nothing (its first revocation time stands).

    Raises
    ------
    ValueError
        When ``key_id`` is not a hex id of at least :data:`KEY_ID_LENGTH` digits, or names no key.
    """
    wanted = key_id.strip().lower()
    if not (KEY_ID_LENGTH <= len(wanted) <= 64) or not set(wanted) <= _HEX:
        raise ValueError(
            f"a key id is {KEY_ID_LENGTH} to 64 hex digits (see `pricepilot keys list`), got {key_id!r}"
        )
    ensure_tables(engine)
    query = select(api_keys.c.key_hash).where(api_keys.c.key_hash.startswith(wanted))
    with engine.connect() as conn:
        found = [str(h) for h in conn.execute(query).scalars()]
    if not found:
        raise ValueError(f"no API key with id {key_id!r} (see `pricepilot keys list`)")
    if len(found) > 1:
        raise ValueError(f"key id {key_id!r} names {len(found)} keys; give more digits of its hash")
    try:
        with engine.begin() as conn:
            conn.execute(api_key_revocations.insert().values(key_hash=found[0], revoked_at=utcnow()))
    except IntegrityError:
        pass  # revoked before (here or by another process): the first revocation stands
    from pricepilot.service.keycache import forget_keys  # the service's cache of looked-up keys

    forget_keys()  # this process refuses the key at once; other workers within keycache.KEY_TTL_SECONDS
    return next(k for k in list_keys(engine) if k.key_id == found[0][:KEY_ID_LENGTH])
