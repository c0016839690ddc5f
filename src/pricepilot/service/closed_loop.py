"""A simulated shop driving the service over its HTTP API: visits in, offers out, outcomes back.

Each visit of a :class:`pricepilot.market.Market` becomes one ``POST /v1/offers`` request (the visitor,
with the visit's item as the only candidate and every feature by name); the visitor's response to the
*served* price is drawn from the market's true purchase model, and every offer is closed through
``POST /v1/events`` (a ``purchase``, or an ``offer_outcome`` with ``purchased: false``), so the live
policy learns online exactly as it would from a shop's event stream.

The market knows the truth, so every served price is scored by its exact expected reward and by the
oracle's (:class:`LoopTrace`), as :func:`pricepilot.evaluation.benchmark.run_one` scores a policy run
in-process. The transport is left to the caller (:class:`Transport`): a test passes a ``TestClient``,
the closed-loop benchmark concurrent ``httpx`` connections to a real server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pricepilot.market import Market, MarketBatch
from pricepilot.types import Decision, FloatArray

JsonBody = dict[str, Any]
#: Posts offer requests; returns, for each, the first offer of its response (same order).
OfferCaller = Callable[[Sequence[JsonBody]], list[JsonBody]]
#: Posts one batch of events to ``/v1/events``; returns the response body.
EventSender = Callable[[list[JsonBody]], JsonBody]


@dataclass(frozen=True, slots=True)
class Transport:
    """How the loop reaches the service: ``offers`` posts offer requests, ``events`` event batches."""

    offers: OfferCaller
    events: EventSender


@dataclass(frozen=True, slots=True)
class LoopTrace:
    """What a closed-loop run served, visit by visit (every array has shape (visits,)).

    Attributes
    ----------
    served : expected reward of the served price (currency, under the market's objective)
    oracle : expected reward of the oracle's best price for the same visit
    list_price : expected reward of the list price for the same visit (the non-personalised baseline)
    purchased : whether the visitor bought at the served price
    learned : outcomes the service said its live policy learned from, in total
    off_ladder : offers whose served price was not the price of their ladder action (a guardrail moved
        it); the market scores such an offer at its ladder action, so this should be 0
    """

    served: FloatArray
    oracle: FloatArray
    list_price: FloatArray
    purchased: NDArray[np.bool_]
    learned: int
    off_ladder: int

    @property
    def visits(self) -> int:
        return int(self.served.size)

    def ratio(self, start: int = 0, stop: int | None = None) -> float:
        """Expected reward served over the oracle's, for visits ``start`` to ``stop``."""
        return float(self.served[start:stop].sum() / self.oracle[start:stop].sum())

    def list_price_ratio(self, start: int = 0, stop: int | None = None) -> float:
        """The same ratio had every visit been offered the list price."""
        return float(self.list_price[start:stop].sum() / self.oracle[start:stop].sum())


def offer_bodies(batch: MarketBatch) -> list[JsonBody]:
    """One ``/v1/offers`` request body per visit: the visitor and the visit's item, every feature of
    the visit given by name on the candidate."""
    ctx = batch.context
    names = ctx.feature_names
    return [
        {
            "visitor": {"id": int(ctx.visitor_ids[i])},
            "candidates": [
                {
                    "item_id": int(ctx.item_ids[i]),
                    "list_price": float(ctx.list_prices[i]),
                    "unit_cost": float(ctx.unit_costs[i]),
                    "features": dict(zip(names, ctx.features[i].tolist(), strict=True)),
                }
            ],
        }
        for i in range(ctx.n)
    ]


def outcome_events(
    run: str, first_visit: int, offers: Sequence[JsonBody], batch: MarketBatch, purchased: NDArray[np.bool_]
) -> list[JsonBody]:
    """The events closing each served offer: a ``purchase`` of one unit, or an ``offer_outcome`` with
    ``purchased: false``; event ids ``'{run}-{visit}'`` make a retried batch harmless."""
    now = datetime.now(UTC).isoformat()
    ctx = batch.context
    events: list[JsonBody] = []
    for i, offer in enumerate(offers):
        event: JsonBody = {
            "event_id": f"{run}-{first_visit + i}",
            "occurred_at": now,
            "visitor_id": int(ctx.visitor_ids[i]),
            "item_id": int(ctx.item_ids[i]),
            "offer_id": offer["offer_id"],
        }
        if purchased[i]:
            event |= {"kind": "purchase", "units": 1}
        else:
            event |= {"kind": "offer_outcome", "payload": {"purchased": False}}
        events.append(event)
    return events


def run_closed_loop(
    market: Market,
    transport: Transport,
    visits: int,
    batch_size: int = 1_000,
    events_per_request: int = 1_000,
    run: str = "loop",
) -> LoopTrace:
    """Drive ``visits`` visits of ``market`` through the service and score what it served.

    Visits are drawn ``batch_size`` at a time (as :func:`pricepilot.evaluation.benchmark.run_one`
    does, so the same seed and batch size give the same visitors, items and purchase draws); every
    visit of a batch is offered, the market draws the responses to the served prices, and the outcomes
    go back in requests of ``events_per_request`` events before the next batch is drawn.

    Parameters
    ----------
    market : Market, a fresh market (its traffic starts where it stands)
    transport : Transport, how offers and events reach the service
    visits, batch_size, events_per_request : int >= 1
    run : str, prefix of the event ids (distinct per run on one store)

    Raises
    ------
    ValueError
        On a non-positive size, or when the service answers an offer for another item or an action
        outside the market's ladder.
    """
    for name, value in (
        ("visits", visits),
        ("batch_size", batch_size),
        ("events_per_request", events_per_request),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    factors = market.ladder.factors
    at_list = int(np.argmin(np.abs(factors - 1.0)))
    served, oracle, baseline, bought = [], [], [], []
    learned = off_ladder = 0
    done = 0
    while done < visits:
        n = min(batch_size, visits - done)
        batch = market.observe(n)
        ctx = batch.context
        offers = transport.offers(offer_bodies(batch))
        actions = np.array([int(o["action"]) for o in offers], dtype=np.int64)
        items = np.array([int(o["item_id"]) for o in offers], dtype=np.int64)
        if len(offers) != n or not np.array_equal(items, ctx.item_ids):
            raise ValueError("the service answered offers for other items than the visits' (or too few)")
        if actions.min() < 0 or actions.max() >= factors.size:
            raise ValueError(
                f"served actions must lie in 0..{factors.size - 1}, got {actions.min()}..{actions.max()}"
            )
        prices = np.array([float(o["price"]) for o in offers])
        ladder_prices = ctx.prices[np.arange(n), actions]
        off_ladder += int(np.count_nonzero(~np.isclose(prices, ladder_prices, rtol=1e-9, atol=0.0)))
        propensities = np.array([float(o["propensity"]) for o in offers])
        outcome = market.step(batch, Decision(actions, propensities, ladder_prices, "service"))
        expected = market.oracle.expected_rewards(batch)
        served.append(expected[np.arange(n), actions])
        oracle.append(expected.max(axis=1))
        baseline.append(expected[:, at_list])
        bought.append(outcome.purchased)
        events = outcome_events(run, done, offers, batch, outcome.purchased)
        for start in range(0, n, events_per_request):
            learned += int(transport.events(events[start : start + events_per_request])["learned"])
        done += n
    return LoopTrace(
        served=np.concatenate(served),
        oracle=np.concatenate(oracle),
        list_price=np.concatenate(baseline),
        purchased=np.concatenate(bought),
        learned=learned,
        off_ladder=off_ladder,
    )
