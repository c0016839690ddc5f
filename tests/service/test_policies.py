from __future__ import annotations

import subprocess
import sys

import numpy as np
from fastapi.testclient import TestClient

from pricepilot.service import Settings, create_app
from tests.service.conftest import FEATURES, Keys, artifact, offer_request


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
    assert client.post("/v1/policies/default@2/promote", headers=keys.admin).status_code == 200
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
