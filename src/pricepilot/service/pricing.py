"""Offers for one request or a group of them: contexts, the live policy's choice, guardrails, answers.

The policy never sees protected attributes (they are stripped first) and the guardrails' result is
what is served, logged and answered; each offer is logged with the served price, its ladder action,
the probability of serving it, and the policy version, before the answer leaves: the request waits
until its offers are durable (appended to the worker's offer journal on an SQLite file, see
:mod:`pricepilot.service.batching`; committed otherwise, see
:meth:`pricepilot.store.OfferLog.log_batch`), so an answered offer is always in the audit log.

The path is batched over the candidates of every request priced together (:func:`price_many`):
features are gathered into one matrix, the policy's action probabilities are computed once (``act``
samples from them), and the offers of the group are one :class:`PricedGroup`, logged as one batch of
columns, which each request's :class:`Priced` takes its rows of. On the event loop,
:mod:`pricepilot.service.batching` groups the requests and logs each group; :func:`serve_offers`
commits the offers of one request on a thread that may block.

The answer is ranked (:func:`.ranking.rank_offers`): relevance (the candidates' order) blended with
each offer's expected objective at its served price, when the live policy has a purchase model
(:class:`pricepilot.policies.PurchaseModel`) and ``Settings.rerank_blend`` is above 0; only the
answer's order changes, not what is decided, guarded or logged.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any, cast

import numpy as np
from pydantic import TypeAdapter

from pricepilot.guardrails import Intervention, explain
from pricepilot.policies import PolicyBase, PurchaseModel
from pricepilot.policies.base import sample_rows
from pricepilot.recommend.rerank import RerankConfig
from pricepilot.service.errors import FieldError
from pricepilot.service.metrics import Metrics
from pricepilot.service.ranking import rank_requests
from pricepilot.service.schemas import Candidate, OfferOut, OfferRequest
from pricepilot.service.settings import Settings
from pricepilot.service.state import Live, LiveState
from pricepilot.store import OfferLog
from pricepilot.store.offers import OfferBatch
from pricepilot.types import BoolArray, ContextBatch, Decision, FloatArray, IntArray, Objective, PriceLadder

_RULES = [rule for rule in Intervention if rule]
_NAN = float("nan")
_RULE_BITS = np.array([int(rule) for rule in _RULES], dtype=np.int64)
_OFFERS = TypeAdapter(list[OfferOut])


def today() -> int:
    """Days since 1970-01-01 (UTC)."""
    return int(time.time() // 86_400)


@lru_cache(maxsize=16)
def _objective(name: str) -> Objective:
    return Objective.named(name)


@lru_cache(maxsize=16)
def _ranking(settings: Settings) -> RerankConfig:
    return settings.rerank


_PURCHASE_MODELS: dict[type, bool] = {}


def _has_purchase_model(kind: type) -> bool:
    """Whether policies of this class are :class:`PurchaseModel` s (a protocol check walks the
    class's attributes: once per class, not per request)."""
    known = _PURCHASE_MODELS.get(kind)
    if known is None:
        known = _PURCHASE_MODELS[kind] = issubclass(kind, PurchaseModel)
    return known


@lru_cache(maxsize=64)
def _columns(names: tuple[str, ...]) -> dict[str, int]:
    return {name: j for j, name in enumerate(names)}


def _features(names: tuple[str, ...], requests: list[OfferRequest]) -> FloatArray:
    """Features of every candidate of ``requests``, in order, shape (n_candidates, len(names)); NaN
    where a name is found nowhere. A name is looked up in the candidate's features, then the
    visitor's, then the page context's.

    The visitor's and the context's values are spread over each request's rows at once, and when
    every candidate names the same features (the usual case) theirs are taken as one matrix.
    """
    column = _columns(names)
    d = len(names)
    shared = np.empty((len(requests), d))
    for row, request in zip(shared, requests, strict=True):
        found = request.context.features | request.visitor.features
        row[:] = [found.get(name, _NAN) for name in names]
    sizes = [len(request.candidates) for request in requests]
    out = np.repeat(shared, sizes, axis=0)
    cands = [c for request in requests for c in request.candidates]
    if not cands or not cands[0].features:
        if any(c.features for c in cands):
            _put_each(out, cands, column)
        return out
    keys = tuple(cands[0].features)
    width = len(keys)
    if all(len(c.features) == width for c in cands):
        getter = itemgetter(*keys)
        try:  # every candidate names exactly ``keys`` (all found, as many): one matrix
            values = [getter(c.features) for c in cands]
        except KeyError:
            pass
        else:
            kept = [(i, column[k]) for i, k in enumerate(keys) if k in column]
            if kept:
                flat = chain.from_iterable(values) if width > 1 else values
                matrix = np.fromiter(flat, dtype=np.float64, count=len(cands) * width)
                out[:, [j for _, j in kept]] = matrix.reshape(len(cands), width)[:, [i for i, _ in kept]]
            return out
    _put_each(out, cands, column)
    return out


def _put_each(out: FloatArray, cands: list[Candidate], column: dict[str, int]) -> None:
    """Write each candidate's own features into its row of ``out``, one by one."""
    for row, cand in zip(out, cands, strict=True):
        for name, value in cand.features.items():
            j = column.get(name)
            if j is not None:
                row[j] = value


def feature_matrix(names: tuple[str, ...], request: OfferRequest) -> FloatArray:
    """Features of every candidate in the order ``names``, shape (n_candidates, len(names)).

    A name is looked up in the candidate's features, then the visitor's, then the page context's; a
    feature found in none of them is a :class:`FieldError` naming where it was expected.
    """
    out = _features(names, [request])
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
    """``n`` offer ids of 32 hex digits: the time in milliseconds (12 digits, as a UUIDv7 starts),
    then 80 random bits from the OS (one call for all).

    Ids served later sort later, so the audit log's index on them grows at its end: a commit writes a
    few pages of it, not one page per offer, as 128 random bits did.
    """
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    digits = os.urandom(10 * n).hex()
    return tuple(stamp + digits[20 * i : 20 * (i + 1)] for i in range(n))


def served_at(offer_id: str) -> float | None:
    """When an id of :func:`new_offer_ids` was made (seconds since the epoch, to the millisecond);
    None for an id of another form."""
    if len(offer_id) != 32:
        return None
    try:
        return int(offer_id[:12], 16) / 1000.0
    except ValueError:
        return None


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


@dataclass(eq=False, slots=True)
class PricedGroup:
    """The offers of the requests priced together, decided and guarded: the one batch to log for all of
    them and, per offer, the policy's own action, the shown discount, the disclosure flag, the
    guardrails' interventions and the explanation's first part."""

    batch: OfferBatch
    chosen: IntArray
    discount: FloatArray
    personalised: BoolArray
    interventions: IntArray
    lines: list[str]
    ladder: PriceLadder
    _answers: list[dict[str, Any]] | None = None

    def answers(self) -> list[dict[str, Any]]:
        """Every offer of the group as answered (``OfferOut``'s fields but ``rank_score``, plain values),
        in the batch's order; built once per group."""
        if self._answers is None:
            self._answers = _answers(self)
        return self._answers


@dataclass(frozen=True, slots=True)
class Priced:
    """One request's offers: rows ``rows`` of its group's batch, and the answer's order (positions
    within those rows, best first) with each position's rank score."""

    group: PricedGroup
    rows: slice
    order: IntArray
    rank_scores: FloatArray


def _price_contexts(
    live: Live,
    contexts: ContextBatch,
    opted_out: BoolArray,
    day: int,
    sizes: list[int],
    ranking: RerankConfig,
) -> list[Priced]:
    """Decide, guard and record the offers of ``contexts`` (the candidates of ``len(sizes)`` requests,
    ``sizes[k]`` rows each, in order) as one group, and rank each request's offers by ``ranking``
    (:func:`.ranking.rank_offers`). The caller holds the policy's lock.

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
    purchase: FloatArray | None = None
    policy = live.policy
    if ranking.blend > 0.0 and _has_purchase_model(type(policy)):
        # P(buy) at the served action (the logged one: the policy's own where the guardrails left the
        # ladder), from the policy's point estimate: no draw, so its decisions are unchanged
        model = cast(PurchaseModel, policy)
        purchase = model.purchase_probabilities_of(seen)[np.arange(contexts.n), actions]
    ranked = rank_requests(purchase, guarded.prices, contexts.unit_costs, sizes, ranking)
    group = PricedGroup(
        batch=OfferBatch(
            offer_ids=new_offer_ids(contexts.n),
            visitor_ids=contexts.visitor_ids,
            item_ids=contexts.item_ids,
            features=seen.features,
            feature_names=seen.feature_names,
            actions=actions,
            n_actions=contexts.ladder.n_actions,
            prices=guarded.prices,
            list_prices=contexts.list_prices,
            unit_costs=contexts.unit_costs,
            propensities=propensities,
            policy_version=live.tag,
        ),
        chosen=decision.actions,
        discount=np.round(guarded.discount_shown, 4),
        personalised=guarded.personalised,
        interventions=guarded.interventions,
        lines=explain(guarded),
        ladder=contexts.ladder,
    )
    priced = []
    start = 0
    for n, (order, scores) in zip(sizes, ranked, strict=True):
        priced.append(Priced(group, slice(start, start + n), order, scores))
        start += n
    return priced


def _price(request: OfferRequest, state: LiveState, settings: Settings) -> Priced:
    """Decide and guard the offers for ``request`` (the caller holds ``state.lock``)."""
    day = today() if request.day is None else request.day
    live = state.current()
    contexts = build_contexts(request, live.feature_names, live.policy.ladder, _objective(settings.objective))
    opted_out = np.full(contexts.n, request.visitor.opted_out)
    try:
        return _price_contexts(live, contexts, opted_out, day, [contexts.n], _ranking(settings))[0]
    except ValueError as err:
        raise FieldError(("day",), f"{err}; send the current day or leave it out") from err


def _price_each(
    requests: list[OfferRequest], state: LiveState, settings: Settings
) -> list[Priced | Exception]:
    """:func:`_price` of every request, an error standing for the offers of the request it concerns."""
    results: list[Priced | Exception] = []
    for request in requests:
        try:
            results.append(_price(request, state, settings))
        except Exception as err:  # the request's own error, raised to it alone
            results.append(err)
    return results


def price_many(
    requests: list[OfferRequest], state: LiveState, settings: Settings
) -> list[Priced | Exception]:
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
    results: list[Priced | Exception | None] = [None] * len(requests)
    flat = _features(names, requests)
    sizes = [len(request.candidates) for request in requests]
    fine = list(range(len(requests)))
    missing: BoolArray = np.asarray(np.isnan(flat).any(axis=1), dtype=bool)
    if missing.any():  # a feature found nowhere: those requests are told, the others go on
        ends = np.cumsum(sizes).tolist()
        for i, (start, end) in enumerate(zip([0, *ends[:-1]], ends, strict=True)):
            if missing[start:end].any():
                try:
                    feature_matrix(names, requests[i])
                except FieldError as err:
                    results[i] = err
        fine = [i for i in fine if results[i] is None]
        flat = flat[~missing]
    if fine:
        chosen = [requests[i] for i in fine]
        sizes = [sizes[i] for i in fine]
        cands = [c for r in chosen for c in r.candidates]
        list_prices = np.array([c.list_price for c in cands], dtype=np.float64)
        costs = np.array([c.unit_cost for c in cands], dtype=np.float64)
        ladder = live.policy.ladder
        prices = ladder.prices(list_prices)
        contexts = ContextBatch(
            features=flat,
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
            together: list[Priced | Exception] = list(
                _price_contexts(live, contexts, opted_out, today(), sizes, _ranking(settings))
            )
        except ValueError:  # one request's trouble (the history's day): find whose, one by one
            together = _price_each(chosen, state, settings)
        for i, result in zip(fine, together, strict=True):
            results[i] = result
    return [r if r is not None else RuntimeError("request not priced") for r in results]


def check_size(request: OfferRequest, settings: Settings) -> None:
    """A :class:`FieldError` on ``candidates`` when the request names more than the settings allow."""
    if len(request.candidates) > settings.max_candidates:
        raise FieldError(
            ("candidates",), f"at most {settings.max_candidates} candidates, got {len(request.candidates)}"
        )


def _answers(group: PricedGroup) -> list[dict[str, Any]]:
    """The group's offers as answered, in the batch's order (see :meth:`PricedGroup.answers`)."""
    batch = group.batch
    chosen = group.chosen.tolist()
    choices = {a: group.ladder.describe(a) for a in set(chosen)}
    tag = batch.policy_version
    return [
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
            "explanation": f"{line}; the policy's choice was {choices[own]}",
        }
        for oid, item, price, list_price, discount, action, propensity, disclosed, line, own in zip(
            batch.offer_ids,
            batch.item_ids.tolist(),
            batch.prices.tolist(),
            batch.list_prices.tolist(),
            group.discount.tolist(),
            batch.actions.tolist(),
            batch.propensities.tolist(),
            group.personalised.tolist(),
            group.lines,
            chosen,
            strict=True,
        )
    ]


def describe(priced: Priced) -> list[dict[str, Any]]:
    """The request's offers as answered (``OfferOut``'s fields, plain values), in rank order."""
    answers = priced.group.answers()
    start = priced.rows.start
    ranked = []
    for i, score in zip(priced.order.tolist(), priced.rank_scores.tolist(), strict=True):
        answer = answers[start + i]  # each offer is one request's: its dict is that request's own
        answer["rank_score"] = score
        ranked.append(answer)
    return ranked


def count_served(group: PricedGroup, metrics: Metrics) -> None:
    """Count the group's offers, once committed, and the guardrails' interventions, by rule."""
    metrics.offers.inc(group.batch.n)
    interventions = group.interventions
    if interventions.any():
        hits = np.count_nonzero(interventions[:, None] & _RULE_BITS, axis=0).tolist()
        for rule, count in zip(_RULES, hits, strict=True):
            if count:
                metrics.interventions.labels(rule=str(rule.name).lower()).inc(count)


def serve_offers(
    request: OfferRequest, state: LiveState, log: OfferLog, settings: Settings, metrics: Metrics
) -> list[OfferOut]:
    """Decide, guard, log and describe the offers for ``request``, in rank order
    (:func:`.ranking.rank_offers`; blocks until the offers are committed; an event loop uses
    :func:`pricepilot.service.batching.serve_offers_async`)."""
    check_size(request, settings)
    with state.lock:
        priced = _price(request, state, settings)
    log.log_batch(priced.group.batch)
    count_served(priced.group, metrics)
    return _OFFERS.validate_python(describe(priced))
