from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from pricepilot.service import Settings, keycache
from pricepilot.service.auth import (
    KEY_ID_LENGTH,
    api_key_revocations,
    create_key,
    hash_token,
    list_keys,
    lookup_key,
    revoke_key,
)
from pricepilot.store import make_engine
from tests.service.conftest import Keys, bearer, offer_request


def test_revoked_key_is_401_from_the_next_request(client: TestClient, keys: Keys, settings: Settings) -> None:
    engine = make_engine(settings.db_url)
    token = create_key(engine, ["offers"], label="to revoke")
    assert client.post("/v1/offers", json=offer_request(), headers=bearer(token)).status_code == 200
    key = lookup_key(engine, token)
    assert key is not None
    revoked = revoke_key(engine, key.key_id)
    assert revoked.revoked
    r = client.post("/v1/offers", json=offer_request(), headers=bearer(token))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert client.post("/v1/offers", json=offer_request(), headers=keys.offers).status_code == 200


def test_list_shows_ids_scopes_and_revocations_and_revoking_twice_keeps_the_first_time(
    settings: Settings,
) -> None:
    engine = make_engine(settings.db_url)
    create_key(engine, ["offers", "events"], label="shop")
    create_key(engine, ["admin"])
    listed = sorted(list_keys(engine), key=lambda k: k.label, reverse=True)
    assert [(k.scopes, k.label, k.revoked) for k in listed] == [
        (frozenset({"offers", "events"}), "shop", False),
        (frozenset({"admin"}), "", False),
    ]
    assert all(len(k.key_id) == KEY_ID_LENGTH for k in listed)
    first = revoke_key(engine, listed[0].key_id.upper())
    again = revoke_key(engine, listed[0].key_id)
    assert first.revoked_at == again.revoked_at
    assert {k.label: k.revoked for k in list_keys(engine)} == {"shop": True, "": False}


@pytest.mark.parametrize(
    ("key_id", "match"),
    [("abc", "12 to 64 hex digits"), ("zz" * 6, "12 to 64 hex digits"), ("0" * 12, "no API key with id")],
)
def test_revoke_names_a_bad_key_id(settings: Settings, key_id: str, match: str) -> None:
    engine = make_engine(settings.db_url)
    create_key(engine, ["offers"])
    with pytest.raises(ValueError, match=match):
        revoke_key(engine, key_id)


def test_a_key_revoked_by_another_process_is_refused_once_the_cache_expires(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(settings.db_url)
    token = create_key(engine, ["offers"])
    assert client.post("/v1/offers", json=offer_request(), headers=bearer(token)).status_code == 200
    key = lookup_key(engine, token)
    assert key is not None
    with engine.begin() as conn:  # as `pricepilot keys revoke` does from its own process (no cache to empty)
        conn.execute(
            api_key_revocations.insert().values(key_hash=hash_token(token), revoked_at=datetime.now(UTC))
        )
    monkeypatch.setattr(keycache, "KEY_TTL_SECONDS", 0.0)  # the cache's lifetime has passed
    assert client.post("/v1/offers", json=offer_request(), headers=bearer(token)).status_code == 401
