"""Offer requests priced together (``pricing.price_many`` and the event loop's batcher), on SQLite."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pricepilot.service import Settings, batching, pricing
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
    groups = {id(r.group) for r in results if not isinstance(r, Exception)}
    assert len(groups) == 1  # one group: one batch to log for the three requests
    ids: list[str] = []
    for request, result in zip(requests, results, strict=True):
        assert not isinstance(result, Exception)
        batch, rows = result.group.batch, result.rows
        assert batch.item_ids[rows].tolist() == [c.item_id for c in request.candidates]
        assert batch.visitor_ids[rows].tolist() == [request.visitor.id] * len(request.candidates)
        assert len(pricing.describe(result)) == len(request.candidates)
        ids += batch.offer_ids[rows]
    assert len(set(ids)) == len(ids) == 6
    opted = results[1]
    assert not isinstance(opted, Exception)
    assert not opted.group.personalised[opted.rows].any()  # opted out: the non-personalised price
    assert np.allclose(opted.group.batch.prices[opted.rows], opted.group.batch.list_prices[opted.rows])


def test_a_bad_request_fails_alone(live: tuple[LiveState, Settings, OfferLog]) -> None:
    state, settings, _ = live
    bad = OfferRequest.model_validate(
        {"visitor": {"id": 9}, "candidates": [{"item_id": 1, "list_price": 5.0, "unit_cost": 1.0}]}
    )
    results = pricing.price_many([_request(1, [1, 2]), bad, _request(2, [2])], state, settings)
    assert isinstance(results[1], FieldError)
    assert results[1].loc[:2] == ("body", "candidates")
    assert not isinstance(results[0], Exception)
    assert not isinstance(results[2], Exception)
    assert results[0].group is results[2].group
    assert results[0].group.batch.n == 3  # the good requests' offers, logged together
    assert [len(pricing.describe(r)) for r in (results[0], results[2])] == [2, 1]


@pytest.fixture
def decisions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of each decision the pricing path takes from now on."""
    calls: list[int] = []
    decide = pricing.decide

    def counted(policy: Any, contexts: Any) -> Any:
        calls.append(contexts.n)
        return decide(policy, contexts)

    monkeypatch.setattr(pricing, "decide", counted)
    return calls


def test_concurrent_requests_share_one_decision_and_are_all_logged(
    live: tuple[LiveState, Settings, OfferLog], decisions: list[int]
) -> None:
    state, settings, log = live
    requests = [_request(v, [v % 5, 10 + v]) for v in range(8)]

    async def serve_all() -> list[dict[str, list[dict[str, Any]]]]:
        batcher = batching.Batcher(state, settings, log, Metrics())
        return await asyncio.gather(*(batching.serve_offers_async(r, batcher) for r in requests))

    answers = asyncio.run(serve_all())
    assert decisions == [16]  # one decision for the 8 requests that arrived in one turn of the loop
    for request, answer in zip(requests, answers, strict=True):
        assert [o["item_id"] for o in answer["offers"]] == [c.item_id for c in request.candidates]
    assert log.count()[0] == 16  # every answered offer is committed


def test_a_busy_server_waits_a_window_for_company_an_idle_one_does_not(
    live: tuple[LiveState, Settings, OfferLog], decisions: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, settings, log = live
    calls = decisions
    monkeypatch.setattr(batching, "BUSY_SECONDS", 60.0)  # "priced within the last minute": busy
    monkeypatch.setattr(batching, "WINDOW_SECONDS", 0.2)

    async def serve() -> None:
        batcher = batching.Batcher(state, settings, log, Metrics())
        await batching.serve_offers_async(_request(1, [1, 2, 3]), batcher)  # idle: priced at once
        assert calls == [3]
        second = asyncio.ensure_future(batching.serve_offers_async(_request(2, [4]), batcher))
        await asyncio.sleep(0.01)  # turns of the loop pass: the first request in the window waits
        assert calls == [3]
        third = asyncio.ensure_future(batching.serve_offers_async(_request(3, [5, 6]), batcher))
        await asyncio.gather(second, third)
        assert calls == [3, 3]  # the two priced together at the window's end

    asyncio.run(serve())
    assert log.count()[0] == 6


def test_a_full_window_is_priced_at_once(
    live: tuple[LiveState, Settings, OfferLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, settings, log = live
    monkeypatch.setattr(batching, "BUSY_SECONDS", 60.0)
    monkeypatch.setattr(batching, "WINDOW_SECONDS", 3600.0)  # never reached in the test
    monkeypatch.setattr(batching, "MAX_WAITING", 3)

    async def serve() -> None:
        batcher = batching.Batcher(state, settings, log, Metrics())
        await batching.serve_offers_async(_request(1, [1]), batcher)
        three = (batching.serve_offers_async(_request(v, [v]), batcher) for v in (2, 3, 4))
        await asyncio.wait_for(asyncio.gather(*three), 60)  # the third fills the window: no hour's wait

    asyncio.run(serve())
    assert log.count()[0] == 4
