"""Offers for one request: contexts from the request, the live policy's choice, guardrails, the log.

The policy never sees protected attributes (they are stripped first) and the guardrails' result is
what is served, logged and answered; each offer is logged with the served price, its ladder action,
the probability of serving it, and the policy version, before the answer leaves: the request waits
for the commit of its offers (shared with concurrent requests, see
:meth:`pricepilot.store.OfferLog.log_batch`), so an answered offer is always in the audit log.

The path is batched over the candidates: features are gathered into one matrix, the policy's action
probabilities are computed once (``act`` samples from them), and the offers are logged as columns.
The HTTP route uses :func:`serve_offers_async`: the same steps on the event loop, with nothing that
blocks (the commit is awaited, the policy's lock never waited for on the loop).

The answer is ranked (:func:`.ranking.rank_offers`): relevance (the candidates' order) blended with
each offer's expected objective at its served price, when the live policy has a purchase model
(:class:`pricepilot.policies.PurchaseModel`) and ``Settings.rerank_blend`` is above 0; only the
answer's order changes, not what is decided, guarded or logged.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from pricepilot.guardrails import Intervention, explain
from pricepilot.policies import PolicyBase, PurchaseModel
from pricepilot.policies.base import sample_rows
from pricepilot.recommend.rerank import RerankConfig
from pricepilot.service.errors import FieldError
from pricepilot.service.metrics import Metrics
from pricepilot.service.ranking import rank_requests
from pricepilot.service.schemas import OfferOut, OfferRequest
from pricepilot.service.settings import Settings
from pricepilot.service.state import Live, LiveState
from pricepilot.store import OfferLog
from pricepilot.store.offers import OfferBatch
from pricepilot.types import BoolArray, ContextBatch, Decision, FloatArray, IntArray, Objective, PriceLadder

_RULES = [rule for rule in Intervention if rule]
_OFFERS = TypeAdapter(list[OfferOut])


def today() -> int:
    """Days since 1970-01-01 (UTC)."""
    return int(time.time() // 86_400)


@lru_cache(maxsize=16)
def _objective(name: str) -> Objective:
    return Objective.named(name)


@lru_cache(maxsize=64)
def _columns(names: tuple[str, ...]) -> dict[str, int]:
    return {name: j for j, name in enumerate(names)}


def feature_matrix(names: tuple[str, ...], request: OfferRequest) -> FloatArray:
    """Features of every candidate in the order ``names``, shape (n_candidates, len(names)).

    A name is looked up in the candidate's features, then the visitor's, then the page context's; a
    feature found in none of them is a :class:`FieldError` naming where it was expected.
    """
    shared = request.context.features | request.visitor.features
    base = [shared.get(name) for name in names]  # None where missing: NaN in the matrix
    column = _columns(names)
    rows = []
    for cand in request.candidates:
        row = base.copy()
        for name, value in cand.features.items():  # only the candidate's own names are looked up
            j = column.get(name)
            if j is not None:
                row[j] = value
        rows.append(row)
    out = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    missing = np.isnan(out)  # sent values are finite (the schema refuses NaN)
    if missing.any():
        i, j = (int(k) for k in np.argwhere(missing)[0])
        name = names[j]
        raise FieldError(
            ("candidates", i, "features", name),
            f"feature {name!r} is missing: give it in the candidate's, the visitor's or the "
            f"context's features (the policy reads {list(names)})",
        )
    return out


def new_offer_ids(n: int) -> tuple[str, ...]:
    """``n`` random offer ids of 32 hex digits (128 bits from the OS, as ``uuid4().hex``; one call)."""
    digits = os.urandom(16 * n).hex()
    return tuple(digits[32 * i : 32 * (i + 1)] for i in range(n))


def decide(policy: PolicyBase, contexts: ContextBatch) -> tuple[FloatArray, Decision]:
    """The policy's action probabilities, shape (n, n_actions), and its decision for ``contexts``.

    A policy that keeps :meth:`PolicyBase.act` (a draw from its action probabilities) has them
    computed once, and its draw taken from them as ``act`` would; one with its own ``act`` is asked both.
    """
    probabilities = policy.action_probabilities(contexts)
    if type(policy).act is not PolicyBase.act:
        return probabilities, policy.act(contexts)
    actions = sample_rows(probabilities, policy.rng)
    rows = np.arange(contexts.n)
    decision = Decision.trusted(
        actions, probabilities[rows, actions], contexts.prices[rows, actions], policy.version
    )
    return probabilities, decision


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


@dataclass(frozen=True, slots=True)
class _Priced:
    """One request's offers, decided and guarded, before they are logged: the batch to log, and per
    offer the policy's own action, the shown discount, the disclosure flag, the guardrails'
    interventions and the explanation's first part; and the answer's order (positions into the batch,
    best first) with each position's rank score."""

    batch: OfferBatch
    chosen: IntArray
    discount: FloatArray
    personalised: BoolArray
    interventions: IntArray
    lines: list[str]
    ladder: PriceLadder
    order: IntArray
    rank_scores: FloatArray


def _price_contexts(
    live: Live,
    contexts: ContextBatch,
    opted_out: BoolArray,
    day: int,
    sizes: list[int],
    ranking: RerankConfig,
) -> list[_Priced]:
    """Decide, guard and record the offers of ``contexts`` (the candidates of ``len(sizes)`` requests,
    ``sizes[k]`` rows each, in order), split them per request and rank each request's offers by
    ``ranking`` (:func:`.ranking.rank_offers`). The caller holds the policy's lock.

    Raises
    ------
    ValueError
        When the price history refuses the day (an item has prices for a later one); nothing is
        recorded then.
    """
    seen = live.guardrails.strip_protected(contexts)
    probabilities, decision = decide(live.policy, seen)
    guarded = live.guardrails.apply(
        contexts, decision, day, opted_out, probabilities=probabilities, record=False
    )
    live.guardrails.history.record(contexts.item_ids, guarded.prices, day)
    on_ladder = guarded.actions >= 0
    actions = np.where(on_ladder, guarded.actions, decision.actions)
    propensities = decision.propensities
    served = guarded.served_propensities
    if served is not None:
        use = on_ladder & (served > 0)
        propensities = np.where(use, np.minimum(served, 1.0), propensities)
    lines = explain(guarded)
    discount = np.round(guarded.discount_shown, 4)
    purchase: FloatArray | None = None
    policy = live.policy
    if ranking.blend > 0.0 and isinstance(policy, PurchaseModel):
        # P(buy) at the served action (the logged one: the policy's own where the guardrails left the
        # ladder), from the policy's point estimate: no draw, so its decisions are unchanged
        purchase = policy.purchase_probabilities_of(seen)[np.arange(contexts.n), actions]
    ranked = rank_requests(purchase, guarded.prices, contexts.unit_costs, sizes, ranking)
    priced = []
    start = 0
    for n, (order, scores) in zip(sizes, ranked, strict=True):
        rows = slice(start, start + n)
        start += n
        batch = OfferBatch(
            offer_ids=new_offer_ids(n),
            visitor_ids=contexts.visitor_ids[rows],
            item_ids=contexts.item_ids[rows],
            features=seen.features[rows],
            feature_names=seen.feature_names,
            actions=actions[rows],
            n_actions=contexts.ladder.n_actions,
            prices=guarded.prices[rows],
            list_prices=contexts.list_prices[rows],
            unit_costs=contexts.unit_costs[rows],
            propensities=propensities[rows],
            policy_version=live.tag,
        )
        priced.append(
            _Priced(
                batch,
                decision.actions[rows],
                discount[rows],
                guarded.personalised[rows],
                guarded.interventions[rows],
                lines[rows],
                contexts.ladder,
                order,
                scores,
            )
        )
    return priced


def _price(request: OfferRequest, state: LiveState, settings: Settings) -> _Priced:
    """Decide and guard the offers for ``request`` (the caller holds ``state.lock``)."""
    day = today() if request.day is None else request.day
    live = state.current()
    contexts = build_contexts(request, live.feature_names, live.policy.ladder, _objective(settings.objective))
    opted_out = np.full(contexts.n, request.visitor.opted_out)
    try:
        return _price_contexts(live, contexts, opted_out, day, [contexts.n], settings.rerank)[0]
    except ValueError as err:
        raise FieldError(("day",), f"{err}; send the current day or leave it out") from err


def _price_each(
    requests: list[OfferRequest], state: LiveState, settings: Settings
) -> list[_Priced | Exception]:
    """:func:`_price` of every request, an error standing for the offers of the request it concerns."""
    results: list[_Priced | Exception] = []
    for request in requests:
        try:
            results.append(_price(request, state, settings))
        except Exception as err:  # the request's own error, raised to it alone
            results.append(err)
    return results


def price_many(
    requests: list[OfferRequest], state: LiveState, settings: Settings
) -> list[_Priced | Exception]:
    """The offers of several requests for today, decided together: their candidates go through the
    policy and the guardrails as one batch (numpy's per-call overhead, not the rows, is what a 10-row
    request costs), then are split per request. The answers are those of :func:`_price` request by
    request (the guardrails read only days before the offers' day, and the history keeps, per item and
    day, the lowest and the last price served, so serving requests of one day together or in turn
    leaves the same rules and the same history); only the policy's random draws are taken in another
    order. Requests naming a ``day`` are priced one by one. The caller holds ``state.lock``.
    """
    if len(requests) == 1 or any(r.day is not None for r in requests):
        return _price_each(requests, state, settings)
    live = state.current()
    names = live.feature_names
    results: list[_Priced | Exception | None] = [None] * len(requests)
    features: list[FloatArray] = []
    fine: list[int] = []
    for i, request in enumerate(requests):
        try:
            features.append(feature_matrix(names, request))
            fine.append(i)
        except FieldError as err:
            results[i] = err
    if fine:
        chosen = [requests[i] for i in fine]
        sizes = [len(r.candidates) for r in chosen]
        cands = [c for r in chosen for c in r.candidates]
        list_prices = np.array([c.list_price for c in cands], dtype=np.float64)
        costs = np.array([c.unit_cost for c in cands], dtype=np.float64)
        ladder = live.policy.ladder
        prices = ladder.prices(list_prices)
        contexts = ContextBatch(
            features=np.concatenate(features, axis=0),
            feature_names=names,
            ladder=ladder,
            prices=prices,
            value_if_bought=_objective(settings.objective).value_if_bought(prices, costs, list_prices),
            list_prices=list_prices,
            unit_costs=costs,
            item_ids=np.array([c.item_id for c in cands], dtype=np.int64),
            visitor_ids=np.repeat(np.array([r.visitor.id for r in chosen], dtype=np.int64), sizes),
        )
        opted_out = np.repeat(np.array([r.visitor.opted_out for r in chosen]), sizes)
        try:
            together: list[_Priced | Exception] = list(
                _price_contexts(live, contexts, opted_out, today(), sizes, settings.rerank)
            )
        except ValueError:  # one request's trouble (the history's day): find whose, one by one
            together = _price_each(chosen, state, settings)
        for i, result in zip(fine, together, strict=True):
            results[i] = result
    return [r if r is not None else RuntimeError("request not priced") for r in results]


class _Batcher:
    """Collects the offer requests that reach the pricing step in one turn of the event loop and prices
    them together (:func:`price_many`) at the end of that turn: inline when the policy's lock is free,
    else on a worker thread (a snapshot or an update holds it), so the loop never waits for it."""

    def __init__(self, state: LiveState, settings: Settings) -> None:
        self.state = state
        self.settings = settings
        self._pending: list[tuple[OfferRequest, asyncio.Future[_Priced]]] = []

    async def price(self, request: OfferRequest) -> _Priced:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Priced] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((request, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        requests = [request for request, _ in pending]
        if self.state.lock.acquire(blocking=False):
            try:
                results = self._run(requests)
            finally:
                self.state.lock.release()
            _settle(pending, results)
            return
        task = asyncio.ensure_future(run_in_threadpool(self._run_locked, requests))
        task.add_done_callback(lambda done: _settle(pending, _outcome(done, len(pending))))

    def _run(self, requests: list[OfferRequest]) -> list[_Priced | Exception]:
        try:
            return price_many(requests, self.state, self.settings)
        except Exception as err:  # no policy live, say: every request is told
            return [err] * len(requests)

    def _run_locked(self, requests: list[OfferRequest]) -> list[_Priced | Exception]:
        with self.state.lock:
            return self._run(requests)


def _outcome(done: asyncio.Future[list[_Priced | Exception]], n: int) -> list[_Priced | Exception]:
    """What a finished worker-thread pricing gave, or its failure for each of its ``n`` requests."""
    if done.cancelled():
        return [RuntimeError("pricing was cancelled (the server is stopping)")] * n
    error = done.exception()
    if error is not None:
        return [error if isinstance(error, Exception) else RuntimeError(str(error))] * n
    return done.result()


def _settle(
    pending: list[tuple[OfferRequest, asyncio.Future[_Priced]]], results: list[_Priced | Exception]
) -> None:
    for (_, future), result in zip(pending, results, strict=True):
        if future.done():  # the client went away
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)


_BATCHERS: weakref.WeakKeyDictionary[LiveState, _Batcher] = weakref.WeakKeyDictionary()


def _check_size(request: OfferRequest, settings: Settings) -> None:
    if len(request.candidates) > settings.max_candidates:
        raise FieldError(
            ("candidates",), f"at most {settings.max_candidates} candidates, got {len(request.candidates)}"
        )


def _describe(priced: _Priced, metrics: Metrics) -> list[dict[str, Any]]:
    """The offers as answered (``OfferOut``'s fields, plain values) in rank order, counted in
    ``metrics``."""
    batch = priced.batch
    ladder = priced.ladder
    choices = {a: ladder.describe(a) for a in set(priced.chosen.tolist())}
    tag = batch.policy_version
    answer = [
        {
            "offer_id": oid,
            "item_id": item,
            "price": price,
            "list_price": list_price,
            "discount": discount,
            "action": action,
            "propensity": propensity,
            "policy_version": tag,
            "personalised": disclosed,
            "explanation": f"{line}; the policy's choice was {choices[chosen]}",
        }
        for oid, item, price, list_price, discount, action, propensity, disclosed, line, chosen in zip(
            batch.offer_ids,
            batch.item_ids.tolist(),
            batch.prices.tolist(),
            batch.list_prices.tolist(),
            priced.discount.tolist(),
            batch.actions.tolist(),
            batch.propensities.tolist(),
            priced.personalised.tolist(),
            priced.lines,
            priced.chosen.tolist(),
            strict=True,
        )
    ]
    for i, score in zip(priced.order.tolist(), priced.rank_scores.tolist(), strict=True):
        answer[i]["rank_score"] = score
    ranked = [answer[i] for i in priced.order.tolist()]
    metrics.offers.inc(batch.n)
    interventions = priced.interventions
    if interventions.any():
        for rule in _RULES:
            hits = int(np.count_nonzero(interventions & int(rule)))
            if hits:
                metrics.interventions.labels(rule=str(rule.name).lower()).inc(hits)
    return ranked


def serve_offers(
    request: OfferRequest, state: LiveState, log: OfferLog, settings: Settings, metrics: Metrics
) -> list[OfferOut]:
    """Decide, guard, log and describe the offers for ``request``, in rank order
    (:func:`.ranking.rank_offers`; blocks until the offers are committed; an event loop uses
    :func:`serve_offers_async`)."""
    _check_size(request, settings)
    with state.lock:
        priced = _price(request, state, settings)
    log.log_batch(priced.batch)
    return _OFFERS.validate_python(_describe(priced, metrics))


async def serve_offers_async(
    request: OfferRequest, state: LiveState, log: OfferLog, settings: Settings, metrics: Metrics
) -> dict[str, list[dict[str, Any]]]:
    """:func:`serve_offers` on an event loop: the answer's body (``OfferResponse``'s fields) once the
    offers are committed.

    Requests that reach this step in one turn of the loop are decided together (:class:`_Batcher`,
    :func:`price_many`), inline on the loop when the live policy's lock is free and on a worker thread
    when it is held, so the loop never waits on it; the offers are written by the log's writer thread,
    shared with concurrent requests, and the request awaits their commit without holding a thread.
    """
    _check_size(request, settings)
    batcher = _BATCHERS.get(state)
    if batcher is None:
        batcher = _BATCHERS[state] = _Batcher(state, settings)
    priced = await batcher.price(request)
    await asyncio.wrap_future(log.submit_batch(priced.batch))
    return {"offers": _describe(priced, metrics)}
