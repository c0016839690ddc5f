"""The policy registry: numbered versions of each named policy, and which one is live.

A version is registered with its artifact (the bytes of a saved policy, see
:func:`pricepilot.store.artifacts.pack_dir`), then promoted: promotion makes it the one ``active``
version of its name and retires the one it replaces. :meth:`PolicyRegistry.rollback` re-activates the
version that was live before the current one. Every change is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from pricepilot.store.engine import StoreError, as_utc, utcnow
from pricepilot.store.schema import policies

_SUMMARY = [c for c in policies.columns if c.name != "artifact"]


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One registered version: ``name@version`` is what offers record as their policy version."""

    name: str
    version: int
    status: str
    created_at: datetime
    activated_at: datetime | None

    @property
    def tag(self) -> str:
        """``'name@version'``, the policy version string offers and snapshots use."""
        return f"{self.name}@{self.version}"


def _version(r: RowMapping) -> PolicyVersion:
    activated = r["activated_at"]
    return PolicyVersion(
        name=r["name"],
        version=int(r["version"]),
        status=r["status"],
        created_at=as_utc(r["created_at"]),
        activated_at=None if activated is None else as_utc(activated),
    )


class PolicyRegistry:
    """Versioned policies and their promotion, on an engine whose schema is up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, name: str, artifact: bytes) -> PolicyVersion:
        """Store ``artifact`` as the next version of ``name`` (1 for a new name), status registered."""
        if not name or len(name) > 64 or "@" in name:
            raise StoreError(f"policy name must be 1 to 64 characters without '@', got {name!r}")
        if not isinstance(artifact, bytes | bytearray | memoryview):
            raise StoreError(f"artifact must be bytes, got {type(artifact).__name__}")
        try:
            with self.engine.begin() as conn:
                top = conn.execute(select(func.max(policies.c.version)).where(policies.c.name == name))
                version = int(top.scalar_one() or 0) + 1
                row = {
                    "name": name,
                    "version": version,
                    "status": "registered",
                    "artifact": bytes(artifact),
                    "created_at": utcnow(),
                    "activated_at": None,
                }
                conn.execute(policies.insert().values(row))
        except IntegrityError as err:
            raise StoreError(f"policy {name!r} was registered concurrently; try again") from err
        return self.get(name, version)

    def versions(self, name: str) -> list[PolicyVersion]:
        """Every version of ``name``, oldest first."""
        query = select(*_SUMMARY).where(policies.c.name == name).order_by(policies.c.version)
        with self.engine.connect() as conn:
            return [_version(r) for r in conn.execute(query).mappings()]

    def names(self) -> list[str]:
        """Names of the registered policies."""
        with self.engine.connect() as conn:
            return list(conn.scalars(select(policies.c.name).distinct().order_by(policies.c.name)))

    def get(self, name: str, version: int) -> PolicyVersion:
        """The given version of ``name``."""
        with self.engine.connect() as conn:
            return _version(self._row(conn, name, version))

    def artifact(self, name: str, version: int) -> bytes:
        """The artifact stored with the given version."""
        query = select(policies.c.artifact).where(policies.c.name == name, policies.c.version == version)
        with self.engine.connect() as conn:
            data = conn.execute(query).scalar_one_or_none()
        if data is None:
            raise StoreError(f"no policy {name}@{version}; registered: {self._known(name)}")
        return bytes(data)

    def active(self, name: str) -> PolicyVersion | None:
        """The live version of ``name``, or None before the first promotion."""
        query = select(*_SUMMARY).where(policies.c.name == name, policies.c.status == "active")
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().one_or_none()
        return None if row is None else _version(row)

    def promote(self, name: str, version: int) -> PolicyVersion:
        """Make ``version`` the active version of ``name``, retiring the one it replaces."""
        with self.engine.begin() as conn:
            self._row(conn, name, version, lock=True)
            self._activate(conn, name, version)
        return self.get(name, version)

    def rollback(self, name: str) -> PolicyVersion:
        """Re-activate the version that was live before the current one, retiring the current one."""
        with self.engine.begin() as conn:
            current = conn.execute(
                select(policies.c.version)
                .where(policies.c.name == name, policies.c.status == "active")
                .with_for_update()
            ).scalar_one_or_none()
            if current is None:
                raise StoreError(f"policy {name!r} has no active version to roll back from")
            previous = conn.execute(
                select(policies.c.version)
                .where(
                    policies.c.name == name,
                    policies.c.status == "retired",
                    policies.c.activated_at.is_not(None),
                )
                .order_by(policies.c.activated_at.desc(), policies.c.version.desc())
                .limit(1)
            ).scalar_one_or_none()
            if previous is None:
                raise StoreError(f"policy {name!r}: version {current} is the first one ever promoted")
            self._activate(conn, name, int(previous))
        return self.get(name, int(previous))

    def _activate(self, conn: Connection, name: str, version: int) -> None:
        now = utcnow()
        conn.execute(
            update(policies)
            .where(policies.c.name == name, policies.c.status == "active", policies.c.version != version)
            .values(status="retired")
        )
        conn.execute(
            update(policies)
            .where(policies.c.name == name, policies.c.version == version)
            .values(status="active", activated_at=now)
        )

    def _row(self, conn: Connection, name: str, version: int, lock: bool = False) -> RowMapping:
        query = select(*_SUMMARY).where(policies.c.name == name, policies.c.version == version)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).mappings().one_or_none()
        if row is None:
            raise StoreError(f"no policy {name}@{version}; registered: {self._known(name, conn)}")
        return row

    def _known(self, name: str, conn: Connection | None = None) -> list[str]:
        query = select(policies.c.version).where(policies.c.name == name).order_by(policies.c.version)
        if conn is not None:
            return [f"{name}@{v}" for v in conn.scalars(query)]
        with self.engine.connect() as own:
            return [f"{name}@{v}" for v in own.scalars(query)]
