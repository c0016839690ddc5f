"""Closed loop through the HTTP API: a simulated market drives offers and outcomes through a TestClient."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import pricepilot as pp
from pricepilot.evaluation.benchmark import build_policy, run_one
from pricepilot.guardrails import GuardrailConfig, Guardrails
from pricepilot.service import Settings, build_artifact, create_app, create_key
from pricepilot.service.auth import ensure_tables
from pricepilot.service.closed_loop import JsonBody, LoopTrace, Transport, run_closed_loop
from pricepilot.store import make_engine, upgrade


def _loop(
    tmp_path: Path, guardrails: GuardrailConfig, seed: int, visits: int, batch: int
) -> tuple[LoopTrace, int]:
    """Serve a fresh logistic_ts (seeded ``seed``) and run ``visits`` visits of the market seeded
    ``seed`` through it, one request at a time; the trace and the live policy's update count."""
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'loop.db'}", guardrails=guardrails, snapshot_every=10_000
    )
    engine = make_engine(settings.db_url)
    upgrade(engine)
    ensure_tables(engine)
    headers = {"Authorization": f"Bearer {create_key(engine, ['admin'])}"}
    engine.dispose()
    market = pp.market.make("ecommerce", seed=seed)
    hidden = set(Guardrails(guardrails).protected_columns(market.feature_names))
    names = [n for j, n in enumerate(market.feature_names) if j not in hidden]
    artifact = build_artifact(build_policy("logistic_ts", market, seed), names)
    with TestClient(create_app(settings)) as client:
        body = {"name": "default", "artifact": base64.b64encode(artifact).decode()}
        assert client.post("/v1/policies", json=body, headers=headers).status_code == 201
        assert client.post("/v1/policies/default@1/promote", headers=headers).status_code == 200

        def offers(bodies: Sequence[JsonBody]) -> list[JsonBody]:
            answers = []
            for b in bodies:
                r = client.post("/v1/offers", json=b, headers=headers)
                assert r.status_code == 200, r.text
                answers.append(r.json()["offers"][0])
            return answers

        def events(batch_events: list[JsonBody]) -> JsonBody:
            r = client.post("/v1/events", json={"events": batch_events}, headers=headers)
            assert r.status_code == 200, r.text
            answer: JsonBody = r.json()
            return answer

        trace = run_closed_loop(market, Transport(offers, events), visits, batch)
        ready = client.get("/readyz").json()
    return trace, int(ready["n_updates"])


def test_served_policy_learns_from_outcomes_posted_back(tmp_path: Path) -> None:
    # default protection (the policy never sees visitor_age_band); no daily-change limit, which would
    # move prices off the market's ladder
    trace, n_updates = _loop(tmp_path, GuardrailConfig(max_daily_change=math.inf), 0, 1_200, 200)
    assert trace.learned == n_updates == 1_200
    assert trace.off_ladder == 0
    half = trace.visits // 2
    first, second = trace.ratio(0, half), trace.ratio(half)
    assert second > first + 0.05, (first, second)
    assert second > trace.list_price_ratio(half) + 0.02, (second, trace.list_price_ratio(half))


def test_sequential_loop_reproduces_the_in_process_run(tmp_path: Path) -> None:
    """One visit at a time, through JSON and the store, the served policy makes exactly the decisions
    and learns exactly what the same policy does in-process on the same traffic."""
    loose = GuardrailConfig(max_daily_change=math.inf, protected=())
    trace, _ = _loop(tmp_path, loose, 1, 600, 200)
    config = pp.market.scenario("ecommerce")
    row, _ = run_one(config, lambda m, s: build_policy("logistic_ts", m, s), 1, 600, 200)
    assert trace.ratio() == pytest.approx(row["reward_to_oracle"], rel=1e-9)
    assert trace.purchased.mean() == pytest.approx(row["conversion"], rel=1e-9)


def test_bad_sizes_are_refused() -> None:
    market = pp.market.make("ecommerce", seed=0)
    transport = Transport(lambda bodies: [], lambda events: {"learned": 0})
    with pytest.raises(ValueError, match="visits must be >= 1, got 0"):
        run_closed_loop(market, transport, 0)
    with pytest.raises(ValueError, match="other items"):
        run_closed_loop(market, transport, 10, 5)
