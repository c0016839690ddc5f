from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import Keys, offer_request


def test_offers_priced_inside_guardrails_with_propensity_and_explanation(
    client: TestClient, keys: Keys
) -> None:
    r = client.post("/v1/offers", json=offer_request(), headers=keys.offers)
    assert r.status_code == 200, r.text
    offers = r.json()["offers"]
    assert [o["item_id"] for o in offers] == [0, 1, 2]
    for o in offers:
        assert 0.5 * o["list_price"] - 1e-9 <= o["price"] <= 1.5 * o["list_price"] + 1e-9
        assert o["price"] >= 6.0
        assert 0 < o["propensity"] <= 1
        assert o["policy_version"] == "default@1"
        assert isinstance(o["personalised"], bool)
        assert o["personalised"] == (abs(o["price"] - o["list_price"]) > 1e-9)
        assert o["explanation"].startswith(f"{o['price']:.2f}: ")
        assert 0 <= o["discount"] < 1


def test_opted_out_visitor_gets_the_list_price_undisclosed(client: TestClient, keys: Keys) -> None:
    r = client.post("/v1/offers", json=offer_request(opted_out=True), headers=keys.offers)
    assert r.status_code == 200, r.text
    for o in r.json()["offers"]:
        assert o["price"] == pytest.approx(o["list_price"])
        assert o["personalised"] is False
        assert o["propensity"] == 1.0
        assert "opted out" in o["explanation"]


def test_no_key_is_401_and_wrong_scope_is_403(client: TestClient, keys: Keys) -> None:
    assert client.post("/v1/offers", json=offer_request()).status_code == 401
    bad = {"Authorization": "Bearer pp_not-a-key"}
    assert client.post("/v1/offers", json=offer_request(), headers=bad).status_code == 401
    r = client.post("/v1/offers", json=offer_request(), headers=keys.events)
    assert r.status_code == 403
    assert "offers" in r.json()["detail"]
    assert client.get("/v1/policies", headers=keys.offers).status_code == 403
    assert client.post("/v1/offers", json=offer_request(), headers=keys.admin).status_code == 200


def _bad(field_path: list[str | int], value: object) -> dict[str, object]:
    body = offer_request()
    target: object = body
    for step in field_path[:-1]:
        target = target[step]  # type: ignore[index]
    target[field_path[-1]] = value  # type: ignore[index]
    return body


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        (["candidates", 1, "list_price"], -3.0, ["body", "candidates", 1, "list_price"]),
        (["candidates", 0, "unit_cost"], "cheap", ["body", "candidates", 0, "unit_cost"]),
        (["visitor", "id"], -1, ["body", "visitor", "id"]),
        (["visitor", "opted_out"], "maybe", ["body", "visitor", "opted_out"]),
        (["candidates"], [], ["body", "candidates"]),
        (["day"], -5, ["body", "day"]),
        (["visitor", "colour"], "red", ["body", "visitor", "colour"]),
        (["visitor", "opted_out"], 1, ["body", "visitor", "opted_out"]),
        (["visitor", "id"], True, ["body", "visitor", "id"]),
        (["candidates", 0, "list_price"], "10.5", ["body", "candidates", 0, "list_price"]),
        (["day"], 20_000.5, ["body", "day"]),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, keys: Keys, path: list[str | int], value: object, loc: list[object]
) -> None:
    r = client.post("/v1/offers", json=_bad(path, value), headers=keys.offers)
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["detail"]] == [loc]


def test_missing_feature_and_nan_are_422_and_nothing_is_logged(client: TestClient, keys: Keys) -> None:
    body = offer_request()
    del body["candidates"][2]["features"]["item_quality"]  # type: ignore[index]
    r = client.post("/v1/offers", json=body, headers=keys.offers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "candidates", 2, "features", "item_quality"]
    text = json.dumps(offer_request()).replace('"visitor_score": 0.5', '"visitor_score": NaN')
    headers = keys.offers | {"Content-Type": "application/json"}
    r = client.post("/v1/offers", content=text, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:3] == ["body", "visitor", "features"]
    metrics = client.get("/metrics").text
    assert "pricepilot_offers_served_total 0.0" in metrics


def test_day_going_back_is_422(client: TestClient, keys: Keys) -> None:
    assert client.post("/v1/offers", json=offer_request(day=20_001), headers=keys.offers).status_code == 200
    r = client.post("/v1/offers", json=offer_request(day=20_000), headers=keys.offers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "day"]


def test_body_over_the_limit_is_413(client: TestClient, keys: Keys) -> None:
    body = offer_request()
    body["visitor"]["features"] = {f"f{i}": 1.0 for i in range(500)}  # type: ignore[index]
    body["context"] = {"page": "x" * 60_000}
    r = client.post("/v1/offers", json=body, headers=keys.offers)
    assert r.status_code == 413


def test_no_live_policy_is_503(bare: TestClient, keys: Keys) -> None:
    assert bare.post("/v1/offers", json=offer_request(), headers=keys.offers).status_code == 503
    assert bare.get("/readyz").status_code == 503
    assert bare.get("/healthz").status_code == 200


def test_streamed_body_over_the_limit_is_413(client: TestClient, keys: Keys) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"visitor": {"id": 1}, "candidates": [], "pad": "'
        for _ in range(20):
            yield b"x" * 5_000
        yield b'"}'

    headers = keys.offers | {"Content-Type": "application/json"}
    r = client.post("/v1/offers", content=chunks(), headers=headers)
    assert r.status_code == 413
