from __future__ import annotations

import base64
import subprocess
import sys

import numpy as np
from fastapi.testclient import TestClient

import pricepilot as pp
from pricepilot.service import Settings, build_artifact, create_app
from pricepilot.store import Offer, OfferLog, Outcome, make_engine
from tests.service.conftest import FEATURES, LADDER, Keys, artifact, offer_request

# P(buy) at each price of LADDER (x0.8 .. x1.2 of a list price of 10, unit cost 6): expected profit per
# offer 1.8, 2.55, 2.8, 1.5, 0.6 -- the list price (action 2) is clearly best, x1.2 (action 4) worst
BUY = np.array([0.9, 0.85, 0.7, 0.3, 0.1])
LIST_PRICE, UNIT_COST = 10.0, 6.0


def _statuses(client: TestClient, keys: Keys) -> dict[str, str]:
    r = client.get("/v1/policies", headers=keys.admin)
    assert r.status_code == 200
    return {p["tag"]: p["status"] for p in r.json()["policies"]}


def test_register_promote_rollback(client: TestClient, keys: Keys) -> None:
    r = client.post(
        "/v1/policies", json={"name": "default", "artifact": artifact(seed=1)}, headers=keys.admin
    )
    assert r.status_code == 201
    assert r.json()["tag"] == "default@2"
    assert _statuses(client, keys) == {"default@1": "active", "default@2": "registered"}
    r = client.post("/v1/policies/default@2/promote?force=true", headers=keys.admin)
    assert r.status_code == 200, r.text
    assert r.json()["forced"] is True
    assert r.json()["gate"] is None
    assert _statuses(client, keys) == {"default@1": "retired", "default@2": "active"}
    offers = client.post("/v1/offers", json=offer_request(), headers=keys.offers).json()["offers"]
    assert {o["policy_version"] for o in offers} == {"default@2"}
    assert client.post("/v1/policies/default/rollback", headers=keys.admin).json()["tag"] == "default@1"
    assert client.get("/readyz").json()["policy"] == "default@1"
    assert client.post("/v1/policies/default@9/promote", headers=keys.admin).status_code == 404
    assert client.post("/v1/policies/default/promote", headers=keys.admin).status_code == 422
    assert client.post("/v1/policies/default@1/promote", headers=keys.offers).status_code == 403


def test_register_refuses_bad_artifacts_and_protected_features(client: TestClient, keys: Keys) -> None:
    r = client.post("/v1/policies", json={"name": "x", "artifact": "not base64!"}, headers=keys.admin)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "artifact"]
    body = {"name": "x", "artifact": artifact(), "feature_names": ["visitor_age_band", "item_quality"]}
    r = client.post("/v1/policies", json=body, headers=keys.admin)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "feature_names"]
    assert set(_statuses(client, keys)) == {"default@1"}


def test_restart_resumes_from_the_snapshot(client: TestClient, keys: Keys, settings: Settings) -> None:
    for i in range(3):  # one day: every ladder price is inside the guardrails, so every outcome teaches
        offers = client.post("/v1/offers", json=offer_request(), headers=keys.offers)
        oid = offers.json()["offers"][1]["offer_id"]
        event = {"event_id": f"buy{i}", "kind": "purchase", "occurred_at": "2026-11-30T10:00:00Z"}
        r = client.post("/v1/events", json={"events": [event | {"offer_id": oid}]}, headers=keys.events)
        assert r.json()["learned"] == 1
    before = client.app.state.services.state.current()  # type: ignore[attr-defined]
    assert before.n_updates == 3
    with TestClient(create_app(settings)) as again:
        after = again.app.state.services.state.current()  # type: ignore[attr-defined]
        assert again.get("/readyz").json() == {"status": "ready", "policy": "default@1", "n_updates": 3}
        np.testing.assert_array_equal(after.policy.theta_, before.policy.theta_)
        assert after.feature_names == FEATURES
        assert after.guardrails.history.last_price(1, 20_003) == before.guardrails.history.last_price(
            1, 20_003
        )


def test_metrics_expose_latency_offers_and_interventions(client: TestClient, keys: Keys) -> None:
    client.post("/v1/offers", json=offer_request(opted_out=True), headers=keys.offers)
    text = client.get("/metrics").text
    assert "pricepilot_offers_served_total 3.0" in text
    assert 'pricepilot_guardrail_interventions_total{rule="opt_out"} 3.0' in text
    assert 'pricepilot_request_seconds_count{method="POST",route="/v1/offers",status="200"} 1.0' in text


def test_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/v1/offers", "/v1/events", "/v1/policies", "/healthz", "/readyz", "/metrics"} <= set(
        schema["paths"]
    )
    assert client.get("/docs").status_code == 200


def test_the_service_does_not_import_torch() -> None:
    code = "import sys, pricepilot.service; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def _register(client: TestClient, keys: Keys, policy: str, **config: object) -> str:
    packed = build_artifact(pp.policies.make(policy, ladder=LADDER, seed=0, **config), FEATURES)
    body = {"name": "default", "artifact": base64.b64encode(packed).decode()}
    r = client.post("/v1/policies", json=body, headers=keys.admin)
    assert r.status_code == 201, r.text
    return str(r.json()["tag"])


def _log_uniform_traffic(settings: Settings, policy_version: str, n: int, seed: int = 0) -> None:
    """``n`` offers served uniformly at random over LADDER (propensity 1/5), with their outcomes drawn
    from ``BUY``, written into the store as the service logs them."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(LADDER.n_actions, size=n)
    bought = rng.random(n) < BUY[actions]
    prices = LADDER.prices(np.full(n, LIST_PRICE))[np.arange(n), actions]
    offers, outcomes = [], []
    for i in range(n):
        oid = f"offer-{policy_version}-{i}"
        offers.append(
            Offer(
                offer_id=oid,
                visitor_id=i,
                item_id=i % 7,
                features=(float(rng.random()), float(rng.random())),
                feature_names=FEATURES,
                action=int(actions[i]),
                n_actions=LADDER.n_actions,
                price=float(prices[i]),
                list_price=LIST_PRICE,
                unit_cost=UNIT_COST,
                propensity=1.0 / LADDER.n_actions,
                policy_version=policy_version,
            )
        )
        profit = float(prices[i] - UNIT_COST) if bought[i] else 0.0
        revenue = float(prices[i]) if bought[i] else 0.0
        outcomes.append(Outcome(oid, bool(bought[i]), int(bought[i]), revenue, profit, profit))
    engine = make_engine(settings.db_url)
    try:
        log = OfferLog(engine)
        log.log(offers)
        log.record_outcomes(outcomes)
    finally:
        engine.dispose()


def test_promote_runs_the_gate_on_logged_offers(bare: TestClient, keys: Keys, settings: Settings) -> None:
    logger = _register(bare, keys, "uniform_random")
    r = bare.post(f"/v1/policies/{logger}/promote", headers=keys.admin)  # the first: no gate
    assert r.status_code == 200, r.text
    assert r.json()["gate"] is None
    assert "first promotion" in r.json()["note"]
    _log_uniform_traffic(settings, logger, 1_500)

    best = _register(bare, keys, "fixed", action=2)
    r = bare.post(f"/v1/policies/{best}/promote", headers=keys.admin)
    assert r.status_code == 200, r.text
    gate = r.json()["gate"]
    assert gate["promote"] is True
    assert gate["rounds"] == 1_500
    assert gate["estimator"] == "dr"
    assert gate["candidate"]["ci_low"] > gate["current"]["value"]  # uniform: about 1.85 per offer
    assert 2.4 < gate["candidate"]["value"] < 3.2  # truth 2.8
    assert gate["difference_low"] > 0
    assert r.json()["forced"] is False
    assert bare.get("/readyz").json()["policy"] == best

    worst = _register(bare, keys, "fixed", action=4)
    r = bare.post(f"/v1/policies/{worst}/promote", headers=keys.admin)
    assert r.status_code == 409, r.text
    refusal = r.json()["detail"]
    assert f"refused {worst} against {best}" in refusal["message"]
    gate = refusal["gate"]
    assert gate["promote"] is False
    assert gate["difference_high"] < 0  # clearly worse: 0.6 against 2.8 per offer
    assert any(reason.startswith("fails: lower bound") for reason in gate["reasons"])
    assert gate["candidate"]["effective_sample_size"] > 100
    assert _statuses(bare, keys)[worst] == "registered"
    assert bare.get("/readyz").json()["policy"] == best

    r = bare.post(f"/v1/policies/{worst}/promote?force=true", headers=keys.admin)
    assert r.status_code == 200, r.text
    assert r.json()["forced"] is True
    assert r.json()["gate"] is None
    assert bare.get("/readyz").json()["policy"] == worst


def test_promote_refuses_without_enough_logged_outcomes(
    client: TestClient, keys: Keys, settings: Settings
) -> None:
    candidate = _register(client, keys, "fixed", action=2)
    r = client.post(f"/v1/policies/{candidate}/promote", headers=keys.admin)
    assert r.status_code == 409, r.text
    assert "too few logged outcomes" in r.json()["detail"]["message"]
    assert "0 offers" in r.json()["detail"]["message"]
    assert r.json()["detail"]["gate"] is None
    _log_uniform_traffic(settings, "default@1", 50)
    r = client.post(f"/v1/policies/{candidate}/promote", headers=keys.admin)
    assert r.status_code == 409
    assert "50 offers" in r.json()["detail"]["message"]
    assert _statuses(client, keys) == {"default@1": "active", candidate: "registered"}
    r = client.post("/v1/policies/default@1/promote", headers=keys.admin)  # already active: no gate
    assert r.status_code == 200
    assert "already the active version" in r.json()["note"]
