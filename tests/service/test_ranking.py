"""``POST /v1/offers`` ranks its answer: relevance (the candidates' order) blended with each offer's
expected objective at its served price, when the live policy has a purchase model."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import pricepilot as pp
from pricepilot.policies import PolicyBase, PurchaseModel
from pricepilot.recommend.rerank import RerankConfig, rerank
from pricepilot.service import Settings, build_artifact, create_app, create_key, pricing, ranking
from pricepilot.service.pricing import build_contexts
from pricepilot.service.ranking import rank_offers
from pricepilot.service.schemas import OfferRequest
from pricepilot.service.settings import load_settings
from pricepilot.service.state import LiveState
from pricepilot.store import PolicyRegistry, make_engine, upgrade
from pricepilot.types import ContextBatch, Objective
from tests.service.conftest import FEATURES, LADDER, bearer, outcomes_of

DAY = 20_000


def _contexts(rng: np.random.Generator, n: int) -> ContextBatch:
    lp = rng.uniform(5.0, 50.0, n)
    cost = 0.5 * lp
    prices = LADDER.prices(lp)
    return ContextBatch(
        features=rng.normal(size=(n, len(FEATURES))),
        feature_names=FEATURES,
        ladder=LADDER,
        prices=prices,
        value_if_bought=prices - cost[:, None],
        list_prices=lp,
        unit_costs=cost,
        item_ids=rng.integers(0, 10, n),
        visitor_ids=rng.integers(0, 100, n),
    )


def _trained(name: str) -> PolicyBase:
    """A policy after batches where buying rises with ``item_quality`` and falls with the price."""
    policy = pp.policies.make(name, ladder=LADDER, seed=5)
    rng = np.random.default_rng(5)
    for _ in range(4):
        contexts = _contexts(rng, 400)
        decision = policy.act(contexts)
        logit = 2.0 * contexts.features[:, 1] - 4.0 * np.log(LADDER.factors[decision.actions])
        bought = rng.random(contexts.n) < 1.0 / (1.0 + np.exp(-logit))
        policy.update(outcomes_of(contexts, decision, bought))
    return policy


def _body() -> dict[str, Any]:
    """Six candidates whose quality (and so purchase probability) rises down the list."""
    return {
        "visitor": {"id": 42, "features": {"visitor_score": 0.3}},
        "candidates": [
            {
                "item_id": i,
                "list_price": 10.0 + 3.0 * (i % 3),
                "unit_cost": 4.0 + (i % 2),
                "features": {"item_quality": -1.5 + 0.6 * i},
            }
            for i in range(6)
        ],
        "day": DAY,
    }


@pytest.fixture(scope="module")
def logistic() -> PolicyBase:
    return _trained("logistic_ts")


@contextmanager
def _serve(policy: PolicyBase, tmp_path: Path, blend: float) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'ranking.db'}"
    token = create_key(make_engine(url), ["admin"])
    settings = Settings(db_url=url, snapshot_every=10_000, rerank_blend=blend)
    data = base64.b64encode(build_artifact(policy, FEATURES)).decode()
    with TestClient(create_app(settings), headers=bearer(token)) as client:
        assert client.post("/v1/policies", json={"name": "default", "artifact": data}).status_code == 201
        assert client.post("/v1/policies/default@1/promote").status_code == 200
        yield client


def _offers(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = client.post("/v1/offers", json=body)
    assert r.status_code == 200, r.text
    offers: list[dict[str, Any]] = r.json()["offers"]
    return offers


def _by_hand(policy: PolicyBase, body: dict[str, Any], offers: list[dict[str, Any]]) -> list[int]:
    """Item ids ordered by P(buy at the served action) x (served price - unit cost), best first."""
    assert isinstance(policy, PurchaseModel)
    request = OfferRequest.model_validate(body)
    contexts = build_contexts(request, FEATURES, LADDER, Objective.named("profit"))
    probs = policy.purchase_probabilities_of(contexts)
    served = {o["item_id"]: o for o in offers}
    value = []
    for i, cand in enumerate(body["candidates"]):
        offer = served[cand["item_id"]]
        value.append(probs[i, offer["action"]] * (offer["price"] - cand["unit_cost"]))
    order = sorted(range(len(value)), key=lambda i: (-value[i], i))
    return [body["candidates"][i]["item_id"] for i in order]


def test_blend_zero_keeps_the_candidates_order(logistic: PolicyBase, tmp_path: Path) -> None:
    with _serve(logistic, tmp_path, 0.0) as client:
        body = _body()
        offers = _offers(client, body)
        assert [o["item_id"] for o in offers] == [c["item_id"] for c in body["candidates"]]
        scores = [o["rank_score"] for o in offers]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] == 1.0
        assert scores[-1] == 0.0


def test_blend_one_orders_by_expected_objective(logistic: PolicyBase, tmp_path: Path) -> None:
    with _serve(logistic, tmp_path, 1.0) as client:
        body = _body()
        offers = _offers(client, body)
        expected = _by_hand(logistic, body, offers)
        assert [o["item_id"] for o in offers] == expected
        assert expected != [c["item_id"] for c in body["candidates"]]  # the ranking did something
        scores = [o["rank_score"] for o in offers]
        assert scores == sorted(scores, reverse=True)
        assert 0.0 <= min(scores) <= max(scores) <= 1.0
        # every offer is answered once, and only the order changes: same offers as logged
        assert sorted(o["item_id"] for o in offers) == list(range(6))
        assert len({o["offer_id"] for o in offers}) == 6


def test_a_policy_without_purchase_model_keeps_the_order(tmp_path: Path) -> None:
    lints = _trained("lints")
    assert not isinstance(lints, PurchaseModel)
    with _serve(lints, tmp_path, 1.0) as client:
        body = _body()
        offers = _offers(client, body)
        assert [o["item_id"] for o in offers] == [c["item_id"] for c in body["candidates"]]


def test_batched_requests_are_ranked_each(logistic: PolicyBase, tmp_path: Path) -> None:
    """Requests priced together (:func:`pricing.price_many`) are each ranked on their own."""
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'batch.db'}", rerank_blend=1.0)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    registry = PolicyRegistry(engine)
    version = registry.register("default", build_artifact(logistic, FEATURES))
    registry.promote("default", version.version)
    state = LiveState(engine, settings)
    state.reload()
    body = _body()
    del body["day"]  # requests naming a day are priced one by one
    bodies = [
        body,
        body | {"candidates": body["candidates"][::-1]},
        body | {"candidates": body["candidates"][:1]},
    ]
    results = pricing.price_many([OfferRequest.model_validate(b) for b in bodies], state, settings)
    for b, result in zip(bodies, results, strict=True):
        assert not isinstance(result, Exception)
        logged = result.group.batch.item_ids[result.rows]
        assert logged.tolist() == [c["item_id"] for c in b["candidates"]]  # logged as asked
        offers = pricing.describe(result)
        assert [o["item_id"] for o in offers] == _by_hand(logistic, b, offers)


def test_purchase_models() -> None:
    assert isinstance(pp.policies.make("logistic_ts", LADDER), PurchaseModel)
    assert isinstance(pp.policies.make("neural_linear", LADDER), PurchaseModel)
    for name in ("lints", "epsilon_greedy", "uniform_random"):
        assert not isinstance(pp.policies.make(name, LADDER), PurchaseModel)


def test_rank_offers_by_revenue_or_profit() -> None:
    prob = np.array([[0.5, 0.5, 0.9], [0.9, 0.5, 0.5]])
    prices = np.array([[10.0, 20.0, 10.0], [10.0, 20.0, 10.0]])
    costs = np.array([[1.0, 19.0, 9.0], [9.0, 19.0, 1.0]])
    # profit: 4.5, 0.5, 0.9 and 0.9, 0.5, 4.5; revenue: 5, 10, 9 and 9, 10, 5
    order, scores = rank_offers(prob, prices, costs, RerankConfig(blend=1.0, objective="profit"))
    assert order.tolist() == [[0, 2, 1], [2, 0, 1]]
    np.testing.assert_array_equal(scores[:, 0], 1.0)
    order, _ = rank_offers(prob, prices, costs, RerankConfig(blend=1.0, objective="revenue"))
    assert order.tolist() == [[1, 2, 0], [1, 0, 2]]
    order, scores = rank_offers(None, prices, costs, RerankConfig(blend=1.0))
    assert order.tolist() == [[0, 1, 2], [0, 1, 2]]
    # without a purchase model, or with blend 0: what rerank gives for relevance alone
    for n in (1, 2, 7):
        ones = np.ones((2, n))
        order, scores = rank_offers(0.5 * ones, ones, 0 * ones, RerankConfig(blend=0.0))
        relevance = np.tile(1.0 - np.arange(n) / n, (2, 1))
        expected = rerank(relevance, 0 * ones, ones, None, RerankConfig(blend=0.0))
        np.testing.assert_array_equal(order, expected[0])
        np.testing.assert_allclose(scores, expected[1], atol=1e-15)


def test_requests_are_ranked_with_one_call_per_size(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = ranking.rank_checked

    def counted(relevance: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(np.shape(relevance))
        return real(relevance, *args, **kwargs)

    monkeypatch.setattr(ranking, "rank_checked", counted)
    sizes = [3, 2, 3, 3]
    rng = np.random.default_rng(0)
    prob, prices, costs = rng.random(11), rng.uniform(5, 10, 11), rng.uniform(0, 5, 11)
    config = RerankConfig(blend=0.7)
    ranked = ranking.rank_requests(prob, prices, costs, sizes, config)
    assert sorted(calls) == [(1, 2), (3, 3)]
    start = 0
    for n, (order, scores) in zip(sizes, ranked, strict=True):
        rows = slice(start, start + n)
        start += n
        alone = rerank(1.0 - np.arange(n) / n, prob[rows], prices[rows], costs[rows], config)
        np.testing.assert_array_equal(order, alone[0][0])
        np.testing.assert_array_equal(scores, alone[1][0])


def test_rerank_settings() -> None:
    assert Settings().rerank_blend == 0.5
    settings = load_settings({"PRICEPILOT_RERANK_BLEND": "0.25", "PRICEPILOT_OBJECTIVE": "revenue"})
    assert settings.rerank == RerankConfig(blend=0.25, objective="revenue")
    assert Settings(objective="conversions").rerank.objective == "profit"
    with pytest.raises(ValueError, match="PRICEPILOT_RERANK_BLEND must be a number, got 'lots'"):
        load_settings({"PRICEPILOT_RERANK_BLEND": "lots"})
    with pytest.raises(ValueError, match=r"rerank_blend must be a number in \[0, 1\], got 1.5"):
        Settings(rerank_blend=1.5)
