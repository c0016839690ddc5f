"""``POST /v1/offers`` on its short path (``service.hotpath``): what it answers itself, what it hands to
the framework's route, and that both answer alike; on each backend."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from pricepilot.service import create_key
from pricepilot.service.app import Service
from pricepilot.service.batching import LogError
from pricepilot.store import OfferLog
from pricepilot.store.journal import JournalError
from tests.service.conftest import Keys, bearer, imported, offer_request


def _app(client: TestClient) -> Service:
    app = client.app
    assert isinstance(app, Service)
    assert app.hot is not None
    return app


def _handed(client: TestClient) -> list[str]:
    """Paths of the requests the short path hands to the framework's route from now on."""
    hot = _app(client).hot
    assert hot is not None
    handed: list[str] = []
    inner = hot.route

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        handed.append(scope["path"])
        await inner(scope, receive, send)

    hot.route = route
    return handed


@pytest.fixture
def routed(client: TestClient, keys: Keys) -> list[str]:
    """Paths of the requests the short path handed to the framework's route (after one request that
    puts the offers key in the key cache)."""
    r = client.post("/v1/offers", json=offer_request(), headers=keys.offers)
    assert r.status_code == 200, r.text
    return _handed(client)


def _logged(client: TestClient) -> int:
    imported(client)
    return OfferLog(_app(client).state.services.engine).count()[0]


def test_a_good_request_is_answered_on_the_short_path_and_logged(
    client: TestClient, keys: Keys, routed: list[str]
) -> None:
    before = _logged(client)
    for n in (1, 4):
        r = client.post("/v1/offers", json=offer_request(n=n), headers=keys.offers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert len(r.json()["offers"]) == n
    assert routed == []  # the route never saw them
    assert _logged(client) == before + 5


def test_a_key_not_in_the_cache_goes_through_the_route_once(client: TestClient, keys: Keys) -> None:
    handed = _handed(client)
    fresh = bearer(create_key(_app(client).state.services.engine, ["offers"]))
    for _ in range(3):
        r = client.post("/v1/offers", json=offer_request(), headers=fresh)
        assert r.status_code == 200, r.text
    assert handed == ["/v1/offers"]  # the route looked the key up; the cache answers after it


def _body(**change: Any) -> dict[str, Any]:
    body = offer_request()
    body.update(change)
    return body


def _too_many(_keys: Keys) -> dict[str, Any]:
    return offer_request(n=101)  # the settings allow 100


CASES: list[tuple[str, Callable[[Keys], dict[str, str]], Callable[[Keys], Any], int, str]] = [
    ("no key", lambda k: {}, lambda k: offer_request(), 401, "missing API key"),
    ("unknown key", lambda k: bearer("pp_" + "0" * 40), lambda k: offer_request(), 401, "unknown API key"),
    ("events key", lambda k: k.events, lambda k: offer_request(), 403, "do not include 'offers'"),
    ("bad field", lambda k: k.offers, lambda k: _body(visitor={"id": -1}), 422, "visitor"),
    ("not JSON", lambda k: k.offers, lambda k: "{", 422, "body"),
    ("no candidates", lambda k: k.offers, lambda k: _body(candidates=[]), 422, "candidates"),
    ("too many", lambda k: k.offers, _too_many, 422, "at most 100 candidates"),
    (
        "missing feature",
        lambda k: k.offers,
        lambda k: _body(visitor={"id": 1, "features": {}}),
        422,
        "feature 'visitor_score' is missing",
    ),
    ("day goes back", lambda k: k.offers, lambda k: _body(day=19_000), 422, "day"),
]


@pytest.mark.parametrize(("case", "headers", "body", "status", "says"), CASES, ids=[c[0] for c in CASES])
def test_every_refusal_is_the_routes(
    client: TestClient,
    keys: Keys,
    routed: list[str],
    case: str,
    headers: Callable[[Keys], dict[str, str]],
    body: Callable[[Keys], Any],
    status: int,
    says: str,
) -> None:
    before = _logged(client)
    content = body(keys)
    if isinstance(content, str):
        r = client.post("/v1/offers", content=content, headers=headers(keys))
    else:
        r = client.post("/v1/offers", json=content, headers=headers(keys))
    assert r.status_code == status, (case, r.text)
    assert says in r.text
    assert routed == ["/v1/offers"]
    assert _logged(client) == before  # nothing logged for a refused request


def test_a_body_over_the_limit_is_refused_by_the_route(
    client: TestClient, keys: Keys, routed: list[str]
) -> None:
    body = offer_request()
    body["context"] = {"page": "x" * 60_000}
    r = client.post("/v1/offers", json=body, headers=keys.offers)
    assert r.status_code == 413
    assert routed == ["/v1/offers"]


def test_the_short_path_answers_as_the_route_does(client: TestClient, keys: Keys) -> None:
    app = _app(client)
    hot = app.hot
    answers = []
    for short in (True, False):  # opted out: the non-personalised prices, the same on both paths
        app.hot = hot if short else None
        r = client.post("/v1/offers", json=offer_request(opted_out=True, n=4), headers=keys.offers)
        assert r.status_code == 200, r.text
        answers.append(r.json()["offers"])
    app.hot = hot
    for offers in answers:
        for offer in offers:
            offer.pop("offer_id")
            offer["explanation"] = offer["explanation"].split(";")[0]  # then the policy's draw
    assert answers[0] == answers[1]


def test_short_path_requests_are_timed_under_the_route(
    client: TestClient, keys: Keys, routed: list[str]
) -> None:
    def served() -> float:
        text = client.get("/metrics").text
        pattern = r'pricepilot_request_seconds_count\{method="POST",route="/v1/offers",status="200"\} (\S+)'
        found = re.search(pattern, text)
        return float(found.group(1)) if found else 0.0

    before = served()
    for _ in range(3):
        assert client.post("/v1/offers", json=offer_request(), headers=keys.offers).status_code == 200
    assert routed == []
    assert served() == before + 3


def test_the_offer_journal_is_watched_in_the_metrics(client: TestClient, keys: Keys) -> None:
    """On an SQLite file the journal's import lag and importer starts are exported; it is level once
    the answered offers are imported."""
    assert client.post("/v1/offers", json=offer_request(), headers=keys.offers).status_code == 200
    imported(client)
    text = client.get("/metrics").text
    if _app(client).state.services.offers.journal is None:  # PostgreSQL: committed before the answer
        assert "pricepilot_offer_journal_lag_bytes" not in text
        return
    assert re.search(r"^pricepilot_offer_journal_lag_bytes 0\.0$", text, re.M)
    assert re.search(r"^pricepilot_offer_journal_importer_starts 1\.0$", text, re.M)


def test_a_failed_commit_is_a_500_and_no_success(
    client: TestClient, keys: Keys, routed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(_batch: object) -> Future[int]:
        future: Future[int] = Future()
        future.set_exception(OSError("disk full"))
        return future

    def full(_docs: object) -> None:
        raise JournalError("could not append offers to the journal: disk full")

    batcher = _app(client).state.services.offers
    if batcher.journal is not None:  # an SQLite file: the offers are journaled before the answer
        monkeypatch.setattr(batcher.journal, "append", full)
    else:
        monkeypatch.setattr(batcher.log, "submit_batch", failing)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    r = quiet.post("/v1/offers", json=offer_request(), headers=keys.offers)
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    assert routed == []  # priced already: not handed over (it would be priced twice)
    with pytest.raises(LogError, match="disk full"):  # raised to the server, which logs it
        client.post("/v1/offers", json=offer_request(), headers=keys.offers)
    app = _app(client)
    hot, app.hot = app.hot, None  # the route answers the same
    r = quiet.post("/v1/offers", json=offer_request(), headers=keys.offers)
    app.hot = hot
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
