"""Offers for one request: contexts from the request, the live policy's choice, guardrails, the log.

The policy never sees protected attributes (they are stripped first) and the guardrails' result is
what is served, logged and answered; each offer is logged with the served price, its ladder action,
the probability of serving it, and the policy version, before the answer leaves.
"""

from __future__ import annotations

import time
import uuid

import numpy as np

from pricepilot.guardrails import Intervention, explain
from pricepilot.service.errors import FieldError
from pricepilot.service.metrics import Metrics
from pricepilot.service.schemas import OfferOut, OfferRequest
from pricepilot.service.settings import Settings
from pricepilot.service.state import LiveState
from pricepilot.store import Offer, OfferLog
from pricepilot.types import ContextBatch, FloatArray, Objective, PriceLadder


def today() -> int:
    """Days since 1970-01-01 (UTC)."""
    return int(time.time() // 86_400)


def feature_matrix(names: tuple[str, ...], request: OfferRequest) -> FloatArray:
    """Features of every candidate in the order ``names``, shape (n_candidates, len(names)).

    A name is looked up in the candidate's features, then the visitor's, then the page context's; a
    feature found in none of them is a :class:`FieldError` naming where it was expected.
    """
    out = np.empty((len(request.candidates), len(names)))
    shared = request.context.features | request.visitor.features
    for i, cand in enumerate(request.candidates):
        for j, name in enumerate(names):
            value = cand.features.get(name, shared.get(name))
            if value is None:
                raise FieldError(
                    ("candidates", i, "features", name),
                    f"feature {name!r} is missing: give it in the candidate's, the visitor's or the "
                    f"context's features (the policy reads {list(names)})",
                )
            out[i, j] = value
    return out


def build_contexts(
    request: OfferRequest, names: tuple[str, ...], ladder: PriceLadder, objective: Objective
) -> ContextBatch:
    """The request as a context batch of one row per candidate."""
    cands = request.candidates
    list_prices = np.array([c.list_price for c in cands], dtype=np.float64)
    costs = np.array([c.unit_cost for c in cands], dtype=np.float64)
    prices = ladder.prices(list_prices)
    return ContextBatch(
        features=feature_matrix(names, request),
        feature_names=names,
        ladder=ladder,
        prices=prices,
        value_if_bought=objective.value_if_bought(prices, costs, list_prices),
        list_prices=list_prices,
        unit_costs=costs,
        item_ids=np.array([c.item_id for c in cands], dtype=np.int64),
        visitor_ids=np.full(len(cands), request.visitor.id, dtype=np.int64),
    )


def serve_offers(
    request: OfferRequest, state: LiveState, log: OfferLog, settings: Settings, metrics: Metrics
) -> list[OfferOut]:
    """Decide, guard, log and describe the offers for ``request``, in the candidates' order."""
    if len(request.candidates) > settings.max_candidates:
        raise FieldError(
            ("candidates",), f"at most {settings.max_candidates} candidates, got {len(request.candidates)}"
        )
    day = today() if request.day is None else request.day
    with state.lock:
        live = state.current()
        contexts = build_contexts(request, live.feature_names, live.policy.ladder, settings.objective_)
        seen = live.guardrails.strip_protected(contexts)
        probabilities = live.policy.action_probabilities(seen)
        decision = live.policy.act(seen)
        opted_out = np.full(contexts.n, request.visitor.opted_out)
        guarded = live.guardrails.apply(
            contexts, decision, day, opted_out, probabilities=probabilities, record=False
        )
        try:
            live.guardrails.history.record(contexts.item_ids, guarded.prices, day)
        except ValueError as err:
            raise FieldError(("day",), f"{err}; send the current day or leave it out") from err
        tag = live.tag
    lines = explain(guarded)
    served = guarded.served_propensities
    offers: list[Offer] = []
    answer: list[OfferOut] = []
    for i in range(contexts.n):
        on_ladder = bool(guarded.actions[i] >= 0)
        action = int(guarded.actions[i]) if on_ladder else int(decision.actions[i])
        propensity = float(decision.propensities[i])
        if on_ladder and served is not None and served[i] > 0:
            propensity = min(float(served[i]), 1.0)
        offer = Offer(
            offer_id=uuid.uuid4().hex,
            visitor_id=int(contexts.visitor_ids[i]),
            item_id=int(contexts.item_ids[i]),
            features=tuple(seen.features[i].tolist()),
            feature_names=seen.feature_names,
            action=action,
            n_actions=contexts.ladder.n_actions,
            price=float(guarded.prices[i]),
            list_price=float(contexts.list_prices[i]),
            unit_cost=float(contexts.unit_costs[i]),
            propensity=propensity,
            policy_version=tag,
        )
        offers.append(offer)
        why = f"{lines[i]}; the policy's choice was {contexts.ladder.describe(int(decision.actions[i]))}"
        answer.append(
            OfferOut(
                offer_id=offer.offer_id,
                item_id=offer.item_id,
                price=offer.price,
                list_price=offer.list_price,
                discount=round(float(guarded.discount_shown[i]), 4),
                action=action,
                propensity=propensity,
                policy_version=tag,
                personalised=bool(guarded.personalised[i]),
                explanation=why,
            )
        )
    log.log(offers)
    metrics.offers.inc(len(offers))
    for rule in Intervention:
        if rule:
            hits = int(np.count_nonzero(guarded.interventions & int(rule)))
            if hits:
                metrics.interventions.labels(rule=str(rule.name).lower()).inc(hits)
    return answer
