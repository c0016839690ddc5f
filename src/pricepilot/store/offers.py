"""The audit log of served offers and the outcomes that followed them (joined by ``offer_id``).

Every offer is stored with the inputs the policy saw (features), the action it took, the price
charged, the propensity of that action and the policy version: enough to audit any price and to
evaluate any other policy on the same traffic later (see :mod:`pricepilot.store.export`). Both logs
are append-only and idempotent by id; each batch is one transaction, all or nothing.

The service logs the offers of the requests it priced together as one :class:`OfferBatch` (columns,
checked at once) with :meth:`OfferLog.log_batch`, which shares transactions between concurrent
callers (group commit, see :mod:`pricepilot.store.commit`; the rows are written by
:mod:`pricepilot.store.offer_writer`) and returns only once the batch is committed; an event loop
uses :meth:`OfferLog.submit_batch` and awaits the commit instead of blocking on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Engine, RowMapping

from pricepilot.store.commit import group_commit
from pricepilot.store.dialect import insert_ignoring_duplicates
from pricepilot.store.engine import StoreError, as_utc, utcnow
from pricepilot.store.offer_batch import Offer, OfferBatch, check_finite
from pricepilot.store.offer_writer import write_offer_batches
from pricepilot.store.schema import offers, outcomes

__all__ = ["LoggedOffer", "Offer", "OfferBatch", "OfferLog", "Outcome", "insert_outcomes"]


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
            check_finite(who, name, getattr(self, name))
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
        return group_commit(self.engine, "offers", write_offer_batches).write(batch)

    def submit_batch(self, batch: OfferBatch) -> Future[int]:
        """:meth:`log_batch` without blocking: the batch is queued for the log's writer thread (see
        :meth:`pricepilot.store.commit.GroupCommit.submit`) and the future gives how many offers were
        new once they are committed. An event loop awaits it with ``asyncio.wrap_future``."""
        if batch.n == 0:
            done: Future[int] = Future()
            done.set_result(0)
            return done
        return group_commit(self.engine, "offers", write_offer_batches).submit(batch)

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
