"""Schemathesis against the served OpenAPI schema (issue 5, point 4): no operation answers a 5xx.

Every operation of the schema the app serves is fuzzed, in-process (ASGI), with schema-valid and
schema-violating requests (bodies, path parameters, headers), on each backend, with an admin key and a
bounded number of examples. Besides "no server error" the answers must be documented: status codes,
content types, headers and bodies conform to the schema, and a schema-violating request is refused
(400, 401, 403, 404, 413 or 422). Schema-valid data the service refuses for a reason the schema cannot
state (a feature the live policy reads and the request lacks, an offer id never served) is no failure.

(Schemathesis's own pytest loader, ``schemathesis.pytest.from_fixture``, does not run under pytest 9,
so the operations are driven here with ``APIOperation.as_strategy`` and Hypothesis's ``given``.)
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import Keys

#: examples per operation and backend (about half valid, half schema-violating where that exists);
#: PRICEPILOT_FUZZ_EXAMPLES=1000 runs a deeper, randomised search locally
DEEP = os.environ.get("PRICEPILOT_FUZZ_EXAMPLES")
MAX_EXAMPLES = int(DEEP) if DEEP else 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
REFUSALS = ["400", "401", "403", "404", "413", "422"]
#: routes that must be in the schema (any other route found there is fuzzed as well)
OPERATIONS = {
    "POST /v1/offers",
    "POST /v1/events",
    "GET /v1/policies",
    "POST /v1/policies",
    "POST /v1/policies/{policy_id}/promote",
    "POST /v1/policies/{name}/rollback",
    "PUT /v1/items",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
}


def _has_input(operation: Any) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)


def _fuzz(operation: Any, headers: dict[str, str]) -> int:
    """Run ``MAX_EXAMPLES`` cases of ``operation`` through every check; return how many ran."""
    cases = operation.as_strategy(GenerationMode.POSITIVE)
    if _has_input(operation):
        cases = st.one_of(cases, operation.as_strategy(GenerationMode.NEGATIVE))
    ran = 0

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not DEEP,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def run(case: Any) -> None:
        nonlocal ran
        ran += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
    return ran


def test_no_server_error_and_every_answer_is_documented(client: TestClient, keys: Keys) -> None:
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
    )
    schema = from_asgi("/openapi.json", client.app, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= OPERATIONS  # every route is served and fuzzed, new ones too
    ran = {op.label: _fuzz(op, keys.admin) for op in operations}
    assert all(n >= 1 for n in ran.values()), ran
    assert sum(ran.values()) >= 6 * MAX_EXAMPLES // 2, ran


def test_the_documented_examples_are_served(client: TestClient, keys: Keys) -> None:
    spec = client.get("/openapi.json").json()
    for path, key in (("/v1/offers", keys.offers), ("/v1/events", keys.events)):
        ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        example = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]["examples"][0]
        r = client.post(path, json=example, headers=key)
        assert r.status_code == 200, (path, r.text)


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/v1/policies/default@%C2%B2/promote", ["path", "policy_id"]),  # '²'.isdigit() but not int
        ("/v1/policies/default@99999999999999999999/promote", ["path", "policy_id"]),  # past the column
        ("/v1/policies/a%00b@1/promote", ["path", "policy_id"]),  # NUL: PostgreSQL refuses it in text
        ("/v1/policies/a%00b/rollback", ["path", "name"]),
    ],
)
def test_bad_path_parameters_found_by_fuzzing_are_422(
    client: TestClient, keys: Keys, url: str, loc: list[str]
) -> None:
    r = client.post(url, headers=keys.admin)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize(
    ("event", "loc"),
    [
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, ["body", "events", 1, "occurred_at"]),  # before UTC 1
        ({"occurred_at": "9999-12-31T23:59:59-01:00"}, ["body", "events", 1, "occurred_at"]),
        ({"event_id": "a\u0000b"}, ["body", "events", 1, "event_id"]),
        ({"kind": "purchase", "offer_id": "\u0000"}, ["body", "events", 1, "offer_id"]),
        ({"units": True}, ["body", "events", 1, "units"]),  # a bool is no count (lax mode took it for 1)
        ({"visitor_id": "12"}, ["body", "events", 1, "visitor_id"]),
    ],
)
def test_bad_events_found_by_fuzzing_are_422_and_store_nothing(
    client: TestClient, keys: Keys, event: dict[str, object], loc: list[object]
) -> None:
    ok = {"event_id": "fine", "kind": "view", "occurred_at": "2026-11-30T10:00:00Z"}
    bad = {"event_id": "bad", "kind": "view", "occurred_at": "2026-11-30T10:00:00Z"} | event
    r = client.post("/v1/events", json={"events": [ok, bad]}, headers=keys.events)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    again = client.post("/v1/events", json={"events": [ok]}, headers=keys.events)
    assert again.json()["stored"] == 1  # the good event of the refused batch was not written
