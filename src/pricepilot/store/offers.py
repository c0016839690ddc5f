"""The audit log of served offers and the outcomes that followed them (joined by ``offer_id``).

Every offer is stored with the inputs the policy saw (features), the action it took, the price
charged, the propensity of that action and the policy version: enough to audit any price and to
evaluate any other policy on the same traffic later (see :mod:`pricepilot.store.export`). Both logs
are append-only and idempotent by id; each batch is one transaction, all or nothing.

The service logs the offers of one request as an :class:`OfferBatch` (columns, checked at once) with
:meth:`OfferLog.log_batch`, which shares transactions between concurrent requests (group commit, see
:mod:`pricepilot.store.commit`) and returns only once the batch is committed; an event loop uses
:meth:`OfferLog.submit_batch` and awaits the commit instead of blocking on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Engine, RowMapping

from pricepilot.store.commit import group_commit
from pricepilot.store.dialect import insert_ignoring_duplicates
from pricepilot.store.engine import StoreError, as_utc, json_dumps, utcnow
from pricepilot.store.schema import offers, outcomes
from pricepilot.types import FloatArray, IntArray


def _finite(owner: str, name: str, value: float) -> None:
    if not math.isfinite(value):
        raise StoreError(f"{owner}: {name} must be a finite number, got {value}")


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as served, after the guardrails.

    Attributes
    ----------
    offer_id : str, unique, 1 to 128 characters
    visitor_id, item_id : int, pseudonymous visitor and item
    features : tuple of float, shape (d,), what the policy saw; named by ``feature_names``
    action : int, index in the price ladder, ``0 <= action < n_actions``
    n_actions : int, the ladder's length
    price, list_price : float, in the item's currency; ``unit_cost`` optional
    propensity : float in (0, 1], probability the policy gave ``action``
    policy_version : str, for example ``'lints@3'``
    created_at : datetime, timezone-aware (None: now)
    """

    offer_id: str
    visitor_id: int
    item_id: int
    features: tuple[float, ...]
    feature_names: tuple[str, ...]
    action: int
    n_actions: int
    price: float
    list_price: float
    propensity: float
    policy_version: str
    unit_cost: float | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        who = f"offer {self.offer_id!r}"
        if not isinstance(self.offer_id, str) or not 0 < len(self.offer_id) <= 128:
            raise StoreError(f"offer_id must be a string of 1 to 128 characters, got {self.offer_id!r}")
        for name in ("visitor_id", "item_id", "action", "n_actions"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("price", "list_price", "propensity"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.unit_cost is not None:
            object.__setattr__(self, "unit_cost", float(self.unit_cost))
        object.__setattr__(self, "features", tuple(float(x) for x in self.features))
        object.__setattr__(self, "feature_names", tuple(str(x) for x in self.feature_names))
        if len(self.features) != len(self.feature_names):
            raise StoreError(f"{who}: {len(self.features)} features but {len(self.feature_names)} names")
        for name, value in zip(self.feature_names, self.features, strict=True):
            _finite(who, f"feature {name!r}", value)
        if not 0 <= self.action < self.n_actions:
            raise StoreError(f"{who}: action {self.action} is outside 0..{self.n_actions - 1}")
        if not (math.isfinite(self.propensity) and 0 < self.propensity <= 1):
            raise StoreError(f"{who}: propensity must be in (0, 1], got {self.propensity}")
        for name in ("price", "list_price"):
            _finite(who, name, getattr(self, name))
        if self.price < 0 or self.list_price <= 0:
            raise StoreError(
                f"{who}: need price >= 0 and list_price > 0, got {self.price}, {self.list_price}"
            )
        if self.unit_cost is not None:
            _finite(who, "unit_cost", self.unit_cost)
        if not self.policy_version:
            raise StoreError(f"{who}: policy_version is empty")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise StoreError(f"{who}: created_at {self.created_at} has no timezone")


@dataclass(frozen=True, slots=True)
class OfferBatch:
    """``n`` offers served together (one request), as columns; checked as :class:`Offer` is, at once.

    Attributes
    ----------
    offer_ids : tuple of n str, unique, 1 to 128 characters each
    visitor_ids, item_ids : ndarray of shape (n,), int64
    features : ndarray of shape (n, d), float64, what the policy saw; named by ``feature_names``
    actions : ndarray of shape (n,), int64, ladder indices, ``0 <= action < n_actions``
    n_actions : int, the ladder's length
    prices, list_prices : ndarray of shape (n,), float64, in the items' currency
    unit_costs : ndarray of shape (n,), float64 (NaN: unknown)
    propensities : ndarray of shape (n,), float64 in (0, 1]
    policy_version : str
    created_at : datetime, timezone-aware (None: when logged)
    """

    offer_ids: tuple[str, ...]
    visitor_ids: IntArray
    item_ids: IntArray
    features: FloatArray
    feature_names: tuple[str, ...]
    actions: IntArray
    n_actions: int
    prices: FloatArray
    list_prices: FloatArray
    unit_costs: FloatArray
    propensities: FloatArray
    policy_version: str
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        n = len(self.offer_ids)
        bad_id = [i for i in self.offer_ids if not isinstance(i, str) or not 0 < len(i) <= 128]
        if bad_id:
            raise StoreError(f"offer_id must be a string of 1 to 128 characters, got {bad_id[0]!r}")
        if len(set(self.offer_ids)) != n:
            raise StoreError("offer ids repeat within the batch")
        if self.features.shape != (n, len(self.feature_names)):
            raise StoreError(
                f"features of shape {self.features.shape}, expected ({n}, {len(self.feature_names)}) "
                f"for {n} offers and features {list(self.feature_names)}"
            )
        for name in (
            "visitor_ids",
            "item_ids",
            "actions",
            "prices",
            "list_prices",
            "unit_costs",
            "propensities",
        ):
            shape = np.shape(getattr(self, name))
            if shape != (n,):
                raise StoreError(f"{name} of shape {shape}, expected ({n},)")

        p, price, list_price = self.propensities, self.prices, self.list_prices
        checks = (
            (np.isfinite(self.features).all(axis=1), "features must be finite numbers"),
            (
                (self.actions >= 0) & (self.actions < self.n_actions),
                f"action outside 0..{self.n_actions - 1}",
            ),
            ((p > 0) & (p <= 1), "propensity must be in (0, 1]"),
            (np.isfinite(price) & (price >= 0), "price must be a finite number >= 0"),
            (np.isfinite(list_price) & (list_price > 0), "list_price must be finite and > 0"),
            (~np.isinf(self.unit_costs), "unit_cost must be a finite number (NaN: unknown)"),
        )
        for ok, what in checks:
            if not ok.all():
                raise StoreError(f"offer {self.offer_ids[int(np.argmin(ok))]!r}: {what}")
        if not self.policy_version:
            raise StoreError("policy_version is empty")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise StoreError(f"created_at {self.created_at} has no timezone")

    @property
    def n(self) -> int:
        return len(self.offer_ids)


_OFFER_COLUMNS = (  # the order of the parameters _write_offer_batches builds
    "offer_id",
    "visitor_id",
    "item_id",
    "features",
    "feature_names",
    "action",
    "n_actions",
    "price",
    "list_price",
    "unit_cost",
    "propensity",
    "policy_version",
    "created_at",
)
assert set(_OFFER_COLUMNS) == {c.name for c in offers.columns}, "offers table and writer disagree"


def _offer_insert_sql(conn: Connection) -> str:
    """``INSERT ... ON CONFLICT (offer_id) DO NOTHING`` for the driver's own ``executemany``."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(_OFFER_COLUMNS)
    marks = ", ".join([mark] * len(_OFFER_COLUMNS))
    return f"INSERT INTO offers ({names}) VALUES ({marks}) ON CONFLICT (offer_id) DO NOTHING"


def _write_offer_batches(conn: Connection, batches: Sequence[OfferBatch]) -> list[int]:
    """Insert the batches' offers not stored before, in one driver ``executemany``; count per batch.

    The rows skip SQLAlchemy's per-value processing (the hot path of every request): JSON columns
    are serialised here, and times are given as SQLAlchemy stores them (text on SQLite).
    """
    now = utcnow()
    sqlite = conn.dialect.name == "sqlite"
    seen: set[str] = set()
    params: list[tuple[object, ...]] = []
    counts: list[int] = []
    for b in batches:
        created: object = as_utc(b.created_at) if b.created_at is not None else now
        if sqlite:
            created = _sqlite_time(created)  # type: ignore[arg-type]
        names = json_dumps(list(b.feature_names))
        costs = [None if c != c else c for c in b.unit_costs.tolist()]  # NaN: unknown
        columns = zip(
            b.offer_ids,
            b.visitor_ids.tolist(),
            b.item_ids.tolist(),
            b.features.tolist(),
            b.actions.tolist(),
            b.prices.tolist(),
            b.list_prices.tolist(),
            costs,
            b.propensities.tolist(),
            strict=True,
        )
        new = 0
        for oid, visitor, item, feats, action, price, list_price, cost, propensity in columns:
            if oid in seen:
                continue
            seen.add(oid)
            new += 1
            params.append(
                (
                    oid,
                    visitor,
                    item,
                    json_dumps(feats),
                    names,
                    action,
                    b.n_actions,
                    price,
                    list_price,
                    cost,
                    propensity,
                    b.policy_version,
                    created,
                )
            )
        counts.append(new)
    if not params:
        return counts
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_offer_insert_sql(conn), params)
        inserted = cursor.rowcount
    finally:
        cursor.close()
    if inserted != len(params) and len(batches) > 1:
        # some ids were stored before, and the driver counts only the whole group: have each batch
        # written (and counted) on its own
        raise _RecountError(f"{len(params) - inserted} offers of a group were stored before")
    counts[-1] -= len(params) - inserted
    return counts


class _RecountError(StoreError):
    """A group's count cannot be split between its batches (group commit retries them one by one)."""


def _sqlite_time(value: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite ``DateTime`` stores it."""
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What followed an offer: purchase, units, revenue, profit and reward (currency), by offer id."""

    offer_id: str
    purchased: bool
    units: int
    revenue: float
    profit: float
    reward: float
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        who = f"outcome of offer {self.offer_id!r}"
        if self.units < 0:
            raise StoreError(f"{who}: units must be >= 0, got {self.units}")
        for name in ("revenue", "profit", "reward"):
            _finite(who, name, getattr(self, name))
        if self.observed_at is not None and self.observed_at.tzinfo is None:
            raise StoreError(f"{who}: observed_at {self.observed_at} has no timezone")


@dataclass(frozen=True, slots=True)
class LoggedOffer:
    """An offer joined with its outcome (None while none has been recorded)."""

    offer: Offer
    outcome: Outcome | None


def _offer_from(r: RowMapping) -> Offer:
    return Offer(
        offer_id=r["offer_id"],
        visitor_id=r["visitor_id"],
        item_id=r["item_id"],
        features=tuple(r["features"]),
        feature_names=tuple(r["feature_names"]),
        action=r["action"],
        n_actions=r["n_actions"],
        price=r["price"],
        list_price=r["list_price"],
        propensity=r["propensity"],
        policy_version=r["policy_version"],
        unit_cost=r["unit_cost"],
        created_at=as_utc(r["created_at"]),
    )


def _outcome_from(r: RowMapping) -> Outcome | None:
    if r["observed_at"] is None:
        return None
    return Outcome(
        offer_id=r["offer_id"],
        purchased=bool(r["purchased"]),
        units=r["units"],
        revenue=r["revenue"],
        profit=r["profit"],
        reward=r["reward"],
        observed_at=as_utc(r["observed_at"]),
    )


_KNOWN_OFFERS = select(offers.c.offer_id).where(offers.c.offer_id.in_(bindparam("ids", expanding=True)))


def insert_outcomes(conn: Connection, batch: Sequence[Outcome]) -> int:
    """Store, inside the caller's transaction, the outcomes of ``batch`` not stored before; return how
    many were new. A :class:`StoreError` when one names an offer never logged (nothing written then)."""
    now = utcnow()
    rows: list[dict[str, object]] = [
        {
            "offer_id": o.offer_id,
            "purchased": bool(o.purchased),
            "units": int(o.units),
            "revenue": float(o.revenue),
            "profit": float(o.profit),
            "reward": float(o.reward),
            "observed_at": as_utc(o.observed_at) if o.observed_at is not None else now,
        }
        for o in batch
    ]
    if not rows:
        return 0
    ids = sorted({str(r["offer_id"]) for r in rows})
    known: set[str] = set()
    for start in range(0, len(ids), 1000):
        known.update(conn.scalars(_KNOWN_OFFERS, {"ids": ids[start : start + 1000]}))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise StoreError(
            f"outcomes for {len(unknown)} offer(s) never logged, for example {unknown[:5]}; "
            "log the offer before its outcome (nothing of this batch was written)"
        )
    return insert_ignoring_duplicates(conn, outcomes, rows, key="offer_id")


class OfferLog:
    """Served offers and their outcomes, on an engine whose schema is up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def log(self, batch: Sequence[Offer]) -> int:
        """Store the offers of ``batch`` not stored before, in one transaction; return how many."""
        now = utcnow()
        rows: list[dict[str, object]] = []
        for o in batch:
            row: dict[str, object] = {c.name: getattr(o, c.name) for c in offers.columns}
            row["features"] = list(o.features)
            row["feature_names"] = list(o.feature_names)
            row["created_at"] = as_utc(o.created_at) if o.created_at is not None else now
            rows.append(row)
        if not rows:
            return 0
        with self.engine.begin() as conn:
            return insert_ignoring_duplicates(conn, offers, rows, key="offer_id")

    def log_batch(self, batch: OfferBatch) -> int:
        """Store the offers of ``batch`` not stored before; return how many, once they are committed.

        Concurrent calls on one engine share a transaction (group commit); each returns only after
        its own offers are durable, and an error in one batch is raised to its caller alone.
        """
        if batch.n == 0:
            return 0
        return group_commit(self.engine, "offers", _write_offer_batches).write(batch)

    def submit_batch(self, batch: OfferBatch) -> Future[int]:
        """:meth:`log_batch` without blocking: the batch is queued for the log's writer thread (see
        :meth:`pricepilot.store.commit.GroupCommit.submit`) and the future gives how many offers were
        new once they are committed. An event loop awaits it with ``asyncio.wrap_future``."""
        if batch.n == 0:
            done: Future[int] = Future()
            done.set_result(0)
            return done
        return group_commit(self.engine, "offers", _write_offer_batches).submit(batch)

    def record_outcomes(self, batch: Sequence[Outcome]) -> int:
        """Store outcomes not stored before, in one transaction; return how many were new.

        Raises
        ------
        StoreError
            When an outcome names an offer that was never logged; nothing of the batch is written.
        """
        if not batch:
            return 0
        with self.engine.begin() as conn:
            return insert_outcomes(conn, batch)

    def count(self) -> tuple[int, int]:
        """Numbers of stored offers and outcomes."""
        with self.engine.connect() as conn:
            n_offers = conn.execute(select(func.count()).select_from(offers)).scalar_one()
            n_outcomes = conn.execute(select(func.count()).select_from(outcomes)).scalar_one()
        return int(n_offers), int(n_outcomes)

    def joined(
        self,
        policy_version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[LoggedOffer]:
        """Offers served in ``[since, until)`` (by ``policy_version`` if given), oldest first, each with
        its outcome or None."""
        query = (
            select(offers, *[c for c in outcomes.columns if c.name != "offer_id"])
            .select_from(offers.outerjoin(outcomes, outcomes.c.offer_id == offers.c.offer_id))
            .order_by(offers.c.created_at, offers.c.offer_id)
        )
        if policy_version is not None:
            query = query.where(offers.c.policy_version == policy_version)
        if since is not None:
            query = query.where(offers.c.created_at >= as_utc(since))
        if until is not None:
            query = query.where(offers.c.created_at < as_utc(until))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [LoggedOffer(_offer_from(r), _outcome_from(r)) for r in rows]
