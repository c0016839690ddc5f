"""Offer requests priced together (``pricing.price_many`` and the event loop's batcher), on SQLite."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pricepilot.service import Settings, pricing
from pricepilot.service.errors import FieldError
from pricepilot.service.metrics import Metrics
from pricepilot.service.schemas import OfferRequest
from pricepilot.service.state import LiveState
from pricepilot.store import OfferLog, PolicyRegistry, make_engine, upgrade
from tests.service.conftest import artifact


def _request(visitor: int, items: list[int], opted_out: bool = False) -> OfferRequest:
    return OfferRequest.model_validate(
        {
            "visitor": {"id": visitor, "features": {"visitor_score": 0.1 * visitor}, "opted_out": opted_out},
            "candidates": [
                {
                    "item_id": i,
                    "list_price": 10.0 + i,
                    "unit_cost": 6.0,
                    "features": {"item_quality": 0.1 * i},
                }
                for i in items
            ],
        }
    )


@pytest.fixture
def live(tmp_path: Path) -> tuple[LiveState, Settings, OfferLog]:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'batch.db'}")
    engine = make_engine(settings.db_url)
    upgrade(engine)
    registry = PolicyRegistry(engine)
    version = registry.register("default", base64.b64decode(artifact()))
    registry.promote("default", version.version)
    state = LiveState(engine, settings)
    state.reload()
    return state, settings, OfferLog(engine)


def test_requests_priced_together_are_split_back_in_order(live: tuple[LiveState, Settings, OfferLog]) -> None:
    state, settings, _ = live
    requests = [_request(1, [3, 4]), _request(2, [5, 6, 7], opted_out=True), _request(3, [3])]
    results = pricing.price_many(requests, state, settings)
    ids: list[str] = []
    for request, result in zip(requests, results, strict=True):
        assert not isinstance(result, Exception)
        batch = result.batch
        assert batch.item_ids.tolist() == [c.item_id for c in request.candidates]
        assert batch.visitor_ids.tolist() == [request.visitor.id] * len(request.candidates)
        assert len(result.lines) == batch.n
        assert np.all((batch.propensities > 0) & (batch.propensities <= 1))
        ids += batch.offer_ids
    assert len(set(ids)) == len(ids)
    opted = results[1]
    assert not isinstance(opted, Exception)
    assert not opted.personalised.any()  # opted out: the non-personalised price, row by row
    assert np.allclose(opted.batch.prices, opted.batch.list_prices)


def test_a_bad_request_fails_alone(live: tuple[LiveState, Settings, OfferLog]) -> None:
    state, settings, _ = live
    bad = OfferRequest.model_validate(
        {"visitor": {"id": 9}, "candidates": [{"item_id": 1, "list_price": 5.0, "unit_cost": 1.0}]}
    )
    results = pricing.price_many([_request(1, [1, 2]), bad, _request(2, [2])], state, settings)
    assert isinstance(results[1], FieldError)
    assert results[1].loc[:2] == ("body", "candidates")
    assert not isinstance(results[0], Exception)
    assert results[0].batch.n == 2
    assert not isinstance(results[2], Exception)
    assert results[2].batch.n == 1


def test_concurrent_requests_share_one_decision_and_are_all_logged(
    live: tuple[LiveState, Settings, OfferLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, settings, log = live
    calls: list[int] = []
    decide = pricing.decide

    def counted(policy: Any, contexts: Any) -> Any:
        calls.append(contexts.n)
        return decide(policy, contexts)

    monkeypatch.setattr(pricing, "decide", counted)
    requests = [_request(v, [v % 5, 10 + v]) for v in range(8)]

    async def serve_all() -> list[dict[str, list[dict[str, Any]]]]:
        metrics = Metrics()
        return await asyncio.gather(
            *(pricing.serve_offers_async(r, state, log, settings, metrics) for r in requests)
        )

    answers = asyncio.run(serve_all())
    assert calls == [16]  # one decision for the 8 requests that arrived in one turn of the loop
    for request, answer in zip(requests, answers, strict=True):
        assert [o["item_id"] for o in answer["offers"]] == [c.item_id for c in request.candidates]
    assert log.count()[0] == 16  # every answered offer is committed
