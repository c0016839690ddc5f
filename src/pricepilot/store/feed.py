"""The outcome feed: outcomes of a policy version's offers in the order they were recorded.

Several server processes share learning through it (see :mod:`pricepilot.service.state`): each reads
the outcomes recorded since its cursor, by ``observed_at`` (indexed), and fetches the few it has not
applied yet with their offers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine, RowMapping

from pricepilot.store.engine import as_utc
from pricepilot.store.offers import Outcome
from pricepilot.store.schema import offers, outcomes

CHUNK = 500


def outcomes_since(engine: Engine, policy_version: str, since: datetime) -> list[tuple[str, datetime]]:
    """``(offer_id, observed_at)`` of every outcome of ``policy_version``'s offers recorded at or after
    ``since`` (timezone-aware), oldest first."""
    query = (
        select(outcomes.c.offer_id, outcomes.c.observed_at)
        .select_from(outcomes.join(offers, offers.c.offer_id == outcomes.c.offer_id))
        .where(outcomes.c.observed_at >= as_utc(since), offers.c.policy_version == policy_version)
        .order_by(outcomes.c.observed_at, outcomes.c.offer_id)
    )
    with engine.connect() as conn:
        return [(str(oid), as_utc(at)) for oid, at in conn.execute(query)]


def offers_with_outcomes(engine: Engine, offer_ids: Sequence[str]) -> list[tuple[RowMapping, Outcome]]:
    """The logged offers named by ``offer_ids`` (each a row of the ``offers`` table) with their recorded
    outcomes, in the order of ``offer_ids``; ids without an offer and an outcome are left out."""
    outcome_columns = [c for c in outcomes.columns if c.name != "offer_id"]
    found: dict[str, tuple[RowMapping, Outcome]] = {}
    with engine.connect() as conn:
        for start in range(0, len(offer_ids), CHUNK):
            chunk = list(offer_ids[start : start + CHUNK])
            query = (
                select(offers, *outcome_columns)
                .select_from(offers.join(outcomes, outcomes.c.offer_id == offers.c.offer_id))
                .where(offers.c.offer_id.in_(chunk))
            )
            for row in conn.execute(query).mappings():
                outcome = Outcome(
                    offer_id=str(row["offer_id"]),
                    purchased=bool(row["purchased"]),
                    units=int(row["units"]),
                    revenue=float(row["revenue"]),
                    profit=float(row["profit"]),
                    reward=float(row["reward"]),
                    observed_at=as_utc(row["observed_at"]),
                )
                found[outcome.offer_id] = (row, outcome)
    return [found[oid] for oid in offer_ids if oid in found]
