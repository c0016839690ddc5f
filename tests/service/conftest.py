"""Fixtures: an app with a registered, promoted LinTS policy and keys, on each backend.

Every test that uses ``settings`` (and so ``bare``, ``client`` and ``keys``) runs twice: on a temporary
SQLite file and on a fresh PostgreSQL database of the private throwaway cluster that the store's tests
start (``tests/conftest.py``; it skips, saying why, when no PostgreSQL server binaries exist).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import pricepilot as pp
from pricepilot.service import Settings, build_artifact, create_app, create_key
from pricepilot.store import make_engine
from pricepilot.types import ContextBatch, Decision, OutcomeBatch, PriceLadder

FEATURES = ("visitor_score", "item_quality")
LADDER = PriceLadder.linear(0.8, 1.2, 5)


def artifact(seed: int = 0) -> str:
    """A fresh LinTS policy on ``LADDER`` reading ``FEATURES``, packed and base64-encoded."""
    policy = pp.policies.make("lints", ladder=LADDER, seed=seed)
    return base64.b64encode(build_artifact(policy, FEATURES)).decode()


@dataclass
class Keys:
    offers: dict[str, str]
    events: dict[str, str]
    admin: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(db_url=db_url, snapshot_every=1, max_body_bytes=50_000)


@pytest.fixture
def keys(settings: Settings) -> Keys:
    engine = make_engine(settings.db_url)
    try:
        return Keys(
            offers=bearer(create_key(engine, ["offers"])),
            events=bearer(create_key(engine, ["events"])),
            admin=bearer(create_key(engine, ["admin"])),
        )
    finally:
        engine.dispose()


@pytest.fixture
def bare(settings: Settings, keys: Keys) -> Iterator[TestClient]:
    """A client of an app with no policy registered yet."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(bare: TestClient, keys: Keys) -> TestClient:
    """A client of an app serving ``default@1``."""
    r = bare.post("/v1/policies", json={"name": "default", "artifact": artifact()}, headers=keys.admin)
    assert r.status_code == 201, r.text
    r = bare.post("/v1/policies/default@1/promote", headers=keys.admin)
    assert r.status_code == 200, r.text
    return bare


def imported(client: TestClient) -> None:
    """Wait until the offers the app has answered are in its store (imported from its offer journal,
    when it keeps one; committed before the answer otherwise)."""
    journal = client.app.state.services.offers.journal  # type: ignore[attr-defined]
    if journal is not None:
        assert journal.flush(), "the offer journal was not imported within its timeout"


def offer_request(opted_out: bool = False, n: int = 3, day: int = 20_000) -> dict[str, object]:
    return {
        "visitor": {"id": 42, "features": {"visitor_score": 0.5, "age": 33.0}, "opted_out": opted_out},
        "context": {"page": "home"},
        "candidates": [
            {"item_id": i, "list_price": 10.0 + i, "unit_cost": 6.0, "features": {"item_quality": 0.1 * i}}
            for i in range(n)
        ],
        "day": day,
    }


def outcomes_of(contexts: ContextBatch, decision: Decision, bought: np.ndarray) -> OutcomeBatch:
    """The outcomes of ``decision`` on ``contexts`` when the rows ``bought`` bought (reward: profit)."""
    value = contexts.value_if_bought[np.arange(contexts.n), decision.actions]
    return OutcomeBatch(
        contexts=contexts,
        actions=decision.actions,
        propensities=decision.propensities,
        purchased=bought,
        revenue=np.where(bought, decision.prices, 0.0),
        profit=np.where(bought, value, 0.0),
        reward=np.where(bought, value, 0.0),
    )
