"""Events in: stored idempotently, outcomes joined to their offers, the policy updated.

Two kinds of event close a served offer with its outcome: a ``purchase`` naming an ``offer_id`` (bought
``units``; ``units`` 0 closes it as not bought), and an ``offer_outcome`` naming an ``offer_id`` with
``payload {"purchased": false}`` (shown and not bought: units 0, revenue, profit and reward 0). Both
are learned from alike, so the live policy sees the offers that did not convert as well as the ones
that did. An offer has one outcome: the first recorded stands, a retry changes nothing, and an event
that contradicts it (a purchase of an offer closed as not bought, or the other way round, in this
batch or an earlier one) fails the batch with a 422 naming that event's ``offer_id``.

A batch is checked whole before anything is written: an outcome naming an offer that was never served
fails the batch with a 422 naming that event (when the server journals its offers, see
:mod:`pricepilot.store.journal`, an offer id not found is looked for again once this worker's
journal is imported, and, while the offer is younger than :data:`IMPORT_GRACE_SECONDS`, until
another worker's importer has stored it, so an outcome sent as soon as its offer was answered is
joined). A retried
batch stores nothing twice and teaches the policy nothing twice, since only outcomes not recorded
before are learned from. The offer join, the
events and the outcomes are one transaction, written in bulk (see
:func:`pricepilot.store.events.insert_events`); the policy learns only once it has committed, under
its lock, which is not held while the store is written (offers go on being decided meanwhile).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine

from pricepilot.service.errors import FieldError
from pricepilot.service.fastpath import parse_body
from pricepilot.service.metrics import Metrics
from pricepilot.service.pricing import served_at
from pricepilot.service.schemas import EventIn, EventsRequest, EventsResponse
from pricepilot.service.settings import Settings
from pricepilot.service.state import Live, LiveState
from pricepilot.store import Outcome
from pricepilot.store.engine import json_dumps, utcnow
from pricepilot.store.events import EventRow, insert_events
from pricepilot.store.journal import OfferJournal
from pricepilot.store.offers import insert_outcomes
from pricepilot.store.schema import offers, outcomes
from pricepilot.types import ContextBatch, Objective, OutcomeBatch

OFFER_OUTCOME = "offer_outcome"

#: seconds after an offer was served (the time in its id) during which an outcome naming it, not yet
#: found, waits for a journal's import (another worker's, whose importer this one cannot flush)
IMPORT_GRACE_SECONDS = 5.0
#: seconds between two looks for such an offer
_IMPORT_POLL_SECONDS = 0.02


def _check_offer_outcome(i: int, ev: EventIn) -> None:
    """An ``offer_outcome`` names its offer, says ``purchased: false`` and carries no units."""
    if ev.offer_id is None:
        raise FieldError(("events", i, "offer_id"), "an offer_outcome event needs the offer_id it closes")
    if ev.payload.get("purchased") is not False:
        raise FieldError(
            ("events", i, "payload", "purchased"),
            'an offer_outcome event needs payload {"purchased": false}; send a purchase event for '
            "an offer that was bought",
        )
    if "units" in ev.model_fields_set and ev.units != 0:
        raise FieldError(("events", i, "units"), "an offer that was not bought has units 0")


def _event_row(i: int, ev: EventIn) -> EventRow:
    """The event as a store row (the schema has checked id, kind and a payload of flat JSON values)."""
    when = ev.occurred_at
    if when.tzinfo is None:
        raise FieldError(("events", i, "occurred_at"), "occurred_at needs a timezone, e.g. '...Z'")
    try:
        when = when.astimezone(UTC)
    except OverflowError:
        raise FieldError(("events", i, "occurred_at"), f"{when.isoformat()} is out of range in UTC") from None
    if ev.kind == OFFER_OUTCOME:
        _check_offer_outcome(i, ev)
    payload: dict[str, Any] = dict(ev.payload)
    if ev.offer_id is not None:
        payload["offer_id"] = ev.offer_id
    payload["units"] = 0 if ev.kind == OFFER_OUTCOME else ev.units
    return (ev.event_id, ev.kind, ev.visitor_id, ev.item_id, json_dumps(payload), when)


_OFFERS_BY_ID = select(offers).where(offers.c.offer_id.in_(bindparam("ids", expanding=True)))
#: on PostgreSQL the offers a batch closes are locked (in one order) until it commits: a concurrent batch
#: closing one of them waits, then sees its outcome (read committed), so an outcome is learned once
_OFFERS_BY_ID_LOCKED = _OFFERS_BY_ID.order_by(offers.c.offer_id).with_for_update()
_OUTCOMES_BY_ID = select(outcomes.c.offer_id, outcomes.c.purchased).where(
    outcomes.c.offer_id.in_(bindparam("ids", expanding=True))
)


def _rows(conn: Connection, ids: list[str]) -> tuple[dict[str, Any], dict[str, bool]]:
    """Logged offers with these ids, and whether each of them that already has an outcome was bought."""
    found: dict[str, Any] = {}
    joined: dict[str, bool] = {}
    by_id = _OFFERS_BY_ID_LOCKED if conn.dialect.name == "postgresql" else _OFFERS_BY_ID
    for start in range(0, len(ids), 500):
        chunk = {"ids": ids[start : start + 500]}
        for row in conn.execute(by_id, chunk).mappings():
            found[row["offer_id"]] = row
        joined.update((str(oid), bool(bought)) for oid, bought in conn.execute(_OUTCOMES_BY_ID, chunk))
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


_INGEST_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_INGEST_LOCKS_LOCK = threading.Lock()


def _ingest_lock(engine: Engine) -> threading.Lock | nullcontext[None]:
    """What orders this process's ingestion transactions on ``engine``. On SQLite, a lock: a batch checks
    which offers are closed and records its outcomes with no other batch in between (so an outcome is
    learned once), and SQLite's single writer is not contended for (its busy wait sleeps). On
    PostgreSQL nothing: batches are written concurrently, those closing the same offers ordered by the
    offers' row locks (see ``_OFFERS_BY_ID_LOCKED``)."""
    if engine.dialect.name == "postgresql":
        return nullcontext()
    with _INGEST_LOCKS_LOCK:
        found = _INGEST_LOCKS.get(engine)
        if found is None:
            found = _INGEST_LOCKS[engine] = threading.Lock()
    return found


class _NotServedError(Exception):
    """An outcome names an offer the log does not hold (yet)."""

    def __init__(self, index: int, offer_id: str) -> None:
        super().__init__(offer_id)
        self.index = index
        self.offer_id = offer_id


def ingest_events(
    request: EventsRequest,
    engine: Engine,
    state: LiveState,
    settings: Settings,
    metrics: Metrics,
    journal: OfferJournal | None = None,
) -> EventsResponse:
    """Store the batch, record the outcomes it carries, and let the live policy learn from them.

    The store is written without the live policy's lock (offers are decided meanwhile); the policy
    learns under it, briefly, once the batch has committed. With this worker's offer ``journal``, an
    outcome naming an offer not found waits for the journal's import and the batch is tried again.
    """
    try:
        return _ingest(request, engine, state, settings, metrics)
    except _NotServedError as err:
        missing = err
    if journal is not None:  # the offer may be answered and not yet imported
        journal.flush()  # this worker's own journal: wait for its import
        started = time.time()
        while True:
            try:
                return _ingest(request, engine, state, settings, metrics)
            except _NotServedError as err:
                missing = err
            # another worker's: look again while the offer is younger than the grace (and never
            # longer than the grace in all; an id claiming a time to come is not waited for)
            served = served_at(missing.offer_id)
            now = time.time()
            if served is None or served > now + 1.0 or now > min(served, started) + IMPORT_GRACE_SECONDS:
                break
            time.sleep(_IMPORT_POLL_SECONDS)
    raise FieldError(
        ("events", missing.index, "offer_id"),
        f"offer {missing.offer_id!r} was never served; nothing of this batch was written",
    )


def _ingest(
    request: EventsRequest, engine: Engine, state: LiveState, settings: Settings, metrics: Metrics
) -> EventsResponse:
    """:func:`ingest_events` once; :class:`_NotServedError` (nothing written) for an unknown offer."""
    if len(request.events) > settings.max_events:
        raise FieldError(("events",), f"at most {settings.max_events} events, got {len(request.events)}")
    batch = [_event_row(i, ev) for i, ev in enumerate(request.events)]
    closing = [
        (i, ev)
        for i, ev in enumerate(request.events)
        if ev.offer_id and ev.kind in ("purchase", OFFER_OUTCOME)
    ]
    objective = settings.objective_
    with _ingest_lock(engine), engine.begin() as conn:  # events and outcomes in one transaction
        ids = sorted({str(ev.offer_id) for _, ev in closing})
        found, joined = _rows(conn, ids) if ids else ({}, {})
        fresh: dict[str, Outcome] = {}
        for i, ev in closing:
            oid = str(ev.offer_id)
            if oid not in found:
                raise _NotServedError(i, oid)
            units = 0 if ev.kind == OFFER_OUTCOME else ev.units
            bought = units > 0
            before = joined.get(oid, fresh[oid].purchased if oid in fresh else None)
            if before is not None and before != bought:
                raise FieldError(
                    ("events", i, "offer_id"),
                    f"offer {oid!r} is already closed as {'bought' if before else 'not bought'}; "
                    "an offer has one outcome; nothing of this batch was written",
                )
            if oid not in joined and oid not in fresh:
                fresh[oid] = outcome_of(found[oid], units, objective)
        stored = insert_events(conn, batch, utcnow())
        recorded = insert_outcomes(conn, list(fresh.values()))
    learned = 0  # only from what is committed
    if fresh and state.ready:
        with state.lock:
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


def ingest_body(
    raw: bytes,
    engine: Engine,
    state: LiveState,
    settings: Settings,
    metrics: Metrics,
    journal: OfferJournal | None = None,
) -> dict[str, int]:
    """:func:`ingest_events` of a raw JSON body (validated in one pass, a 422 naming the index and the
    field when it is not an ``EventsRequest``); the answer's fields. Blocks: call it on a worker thread."""
    request = parse_body(EventsRequest, raw)
    return ingest_events(request, engine, state, settings, metrics, journal).model_dump()
