from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pricepilot.data import MissingKeyError, Pseudonymiser, ingest, resolve_key
from pricepilot.data.pseudonym import ENV_VAR
from tests.data.events_fixture import KEY, frame

OTHER_KEY = "another-key-0123456789"


def test_keyed_and_deterministic() -> None:
    ids = ["alice", "bob", "alice", 42, "42", 42.0]
    first = Pseudonymiser.from_key(KEY).int64(ids)
    again = Pseudonymiser.from_key(KEY).int64(ids)
    other = Pseudonymiser.from_key(OTHER_KEY).int64(ids)
    np.testing.assert_array_equal(first, again)
    assert first[0] == first[2] != first[1]
    assert first[3] == first[4] == first[5]  # 42, '42' and 42.0 are one visitor
    assert not np.any(first == other)
    assert np.all(first >= 0)


def test_missing_ids_map_to_no_user_and_hex_is_the_full_hmac() -> None:
    hasher = Pseudonymiser.from_key(KEY)
    assert list(hasher.int64(["a", None, np.nan, " "]))[1:] == [-1, -1, -1]
    hexes = hasher.hex(["a", None])
    assert len(hexes[0]) == 64
    assert hexes[1] == ""
    assert int(hexes[0][:16], 16) >> 1 == hasher.int64(["a"])[0]


def test_ingestion_drops_raw_ids() -> None:
    events = ingest(frame(), key=KEY).events
    table = events.to_frame()
    raw = {"u1", "u2", "u3"}
    assert not any(str(v) in raw for col in table.columns for v in table[col])
    assert events.user.dtype == np.int64
    assert KEY not in repr(Pseudonymiser.from_key(KEY))


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, KEY)
    from_env = ingest(frame(), key=None).events.user
    np.testing.assert_array_equal(from_env, ingest(frame(), key=KEY).events.user)


def test_missing_or_short_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(MissingKeyError, match=ENV_VAR):
        resolve_key(None)
    with pytest.raises(MissingKeyError, match=ENV_VAR):
        ingest(frame(), key=None)
    with pytest.raises(MissingKeyError, match="at least 16"):
        resolve_key("short")
    # a source without visitors needs no key
    no_users = pd.DataFrame({"kind": ["promotion"], "timestamp": ["2026-01-01"]})
    assert ingest(no_users).events.n == 1
