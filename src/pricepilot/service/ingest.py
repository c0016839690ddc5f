"""Events in: stored idempotently, purchases joined to their offers as outcomes, the policy updated.

A batch is checked whole before anything is written (a purchase naming an offer that was never served
fails the batch with a 422 naming that event); a retried batch stores nothing twice and teaches the
policy nothing twice, since only outcomes not recorded before are learned from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine

from pricepilot.service.errors import FieldError
from pricepilot.service.metrics import Metrics
from pricepilot.service.schemas import EventIn, EventsRequest, EventsResponse
from pricepilot.service.settings import Settings
from pricepilot.service.state import Live, LiveState
from pricepilot.store import Event, EventStore, OfferLog, Outcome
from pricepilot.store.schema import offers, outcomes
from pricepilot.types import ContextBatch, Objective, OutcomeBatch


def _to_event(i: int, ev: EventIn) -> Event:
    if ev.occurred_at.tzinfo is None:
        raise FieldError(("events", i, "occurred_at"), "occurred_at needs a timezone, e.g. '...Z'")
    payload: dict[str, Any] = dict(ev.payload)
    if ev.offer_id is not None:
        payload["offer_id"] = ev.offer_id
    payload["units"] = ev.units
    return Event(ev.event_id, ev.kind, ev.occurred_at, ev.visitor_id, ev.item_id, payload)


def _rows(engine: Engine, ids: list[str]) -> tuple[dict[str, Any], set[str]]:
    """Logged offers with these ids, and the ids among them that already have an outcome."""
    found: dict[str, Any] = {}
    joined: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in conn.execute(select(offers).where(offers.c.offer_id.in_(chunk))).mappings():
                found[row["offer_id"]] = row
            joined.update(conn.scalars(select(outcomes.c.offer_id).where(outcomes.c.offer_id.in_(chunk))))
    return found, joined


def outcome_of(offer: Any, units: int, objective: Objective) -> Outcome:
    """The outcome of buying ``units`` of a logged offer (revenue, profit and reward in currency)."""
    price, cost = float(offer["price"]), float(offer["unit_cost"] or 0.0)
    value = objective.value_if_bought(
        np.array([[price]]), np.array([cost]), np.array([float(offer["list_price"])])
    )
    return Outcome(
        offer_id=str(offer["offer_id"]),
        purchased=units > 0,
        units=units,
        revenue=price * units,
        profit=(price - cost) * units,
        reward=float(value[0, 0]) * units,
    )


def learning_batch(
    live: Live, rows: Sequence[Any], found: Sequence[Outcome], objective: Objective
) -> OutcomeBatch | None:
    """The outcomes the live policy can learn from: offers it served, on its ladder, with its features."""
    ladder = live.policy.ladder
    keep = [
        (row, out)
        for row, out in zip(rows, found, strict=True)
        if row["policy_version"] == live.tag
        and tuple(row["feature_names"]) == live.feature_names
        and row["n_actions"] == ladder.n_actions
        and np.isclose(row["price"], row["list_price"] * ladder.factors[row["action"]], rtol=1e-9)
    ]
    if not keep:
        return None
    list_prices = np.array([r["list_price"] for r, _ in keep], dtype=np.float64)
    costs = np.array([r["unit_cost"] or 0.0 for r, _ in keep], dtype=np.float64)
    prices = ladder.prices(list_prices)
    contexts = ContextBatch(
        features=np.array([r["features"] for r, _ in keep], dtype=np.float64).reshape(len(keep), -1),
        feature_names=live.feature_names,
        ladder=ladder,
        prices=prices,
        value_if_bought=objective.value_if_bought(prices, costs, list_prices),
        list_prices=list_prices,
        unit_costs=costs,
        item_ids=np.array([r["item_id"] for r, _ in keep], dtype=np.int64),
        visitor_ids=np.array([r["visitor_id"] for r, _ in keep], dtype=np.int64),
    )
    return OutcomeBatch(
        contexts=contexts,
        actions=np.array([r["action"] for r, _ in keep], dtype=np.int64),
        propensities=np.array([r["propensity"] for r, _ in keep], dtype=np.float64),
        purchased=np.array([o.purchased for _, o in keep]),
        revenue=np.array([o.revenue for _, o in keep], dtype=np.float64),
        profit=np.array([o.profit for _, o in keep], dtype=np.float64),
        reward=np.array([o.reward for _, o in keep], dtype=np.float64),
    )


def ingest_events(
    request: EventsRequest, engine: Engine, state: LiveState, settings: Settings, metrics: Metrics
) -> EventsResponse:
    """Store the batch, record the outcomes it carries, and let the live policy learn from them."""
    if len(request.events) > settings.max_events:
        raise FieldError(("events",), f"at most {settings.max_events} events, got {len(request.events)}")
    batch = [_to_event(i, ev) for i, ev in enumerate(request.events)]
    purchases = [(i, ev) for i, ev in enumerate(request.events) if ev.kind == "purchase" and ev.offer_id]
    objective = settings.objective_
    with state.lock:
        found, joined = _rows(engine, sorted({str(ev.offer_id) for _, ev in purchases}))
        for i, ev in purchases:
            if ev.offer_id not in found:
                raise FieldError(
                    ("events", i, "offer_id"),
                    f"offer {ev.offer_id!r} was never served; nothing of this batch was written",
                )
        fresh: dict[str, Outcome] = {}
        for _, ev in purchases:
            oid = str(ev.offer_id)
            if oid not in joined and oid not in fresh:
                fresh[oid] = outcome_of(found[oid], ev.units, objective)
        stored = EventStore(engine).append(batch)
        recorded = OfferLog(engine).record_outcomes(list(fresh.values()))
        learned = 0
        if fresh and state.ready:
            live = state.current()
            rows = [found[oid] for oid in fresh]
            learn = learning_batch(live, rows, list(fresh.values()), objective)
            if learn is not None:
                state.learn(learn)
                learned = learn.n
    metrics.events.inc(stored)
    for out in fresh.values():
        metrics.outcomes.labels(purchased=str(out.purchased).lower()).inc()
        metrics.reward.observe(out.reward)
    return EventsResponse(received=len(batch), stored=stored, outcomes=recorded, learned=learned)
