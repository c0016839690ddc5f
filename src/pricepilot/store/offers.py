"""The audit log of served offers and the outcomes that followed them (joined by ``offer_id``).

Every offer is stored with the inputs the policy saw (features), the action it took, the price
charged, the propensity of that action and the policy version: enough to audit any price and to
evaluate any other policy on the same traffic later (see :mod:`pricepilot.store.export`). Both logs
are append-only and idempotent by id; each batch is one transaction, all or nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, RowMapping

from pricepilot.store.dialect import insert_ignoring_duplicates
from pricepilot.store.engine import StoreError, as_utc, utcnow
from pricepilot.store.schema import offers, outcomes


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

    def record_outcomes(self, batch: Sequence[Outcome]) -> int:
        """Store outcomes not stored before, in one transaction; return how many were new.

        Raises
        ------
        StoreError
            When an outcome names an offer that was never logged; nothing of the batch is written.
        """
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
        with self.engine.begin() as conn:
            known: set[str] = set()
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                known.update(conn.scalars(select(offers.c.offer_id).where(offers.c.offer_id.in_(chunk))))
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise StoreError(
                    f"outcomes for {len(unknown)} offer(s) never logged, for example {unknown[:5]}; "
                    "log the offer before its outcome (nothing of this batch was written)"
                )
            return insert_ignoring_duplicates(conn, outcomes, rows, key="offer_id")

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
