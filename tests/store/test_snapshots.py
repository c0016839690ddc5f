from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from pricepilot.store import SnapshotStore, StoreError


def test_latest_snapshot_wins_per_policy_version(engine: Engine) -> None:
    snaps = SnapshotStore(engine)
    assert snaps.latest("lints@1") is None
    for i in range(4):
        snaps.save("lints@1", b"state-%d" % i, n_updates=10 * i)
    snaps.save("lints@2", b"other", n_updates=1)
    latest = snaps.latest("lints@1")
    assert latest is not None
    assert (latest.state, latest.n_updates) == (b"state-3", 30)
    assert latest.created_at.tzinfo is not None
    assert snaps.prune("lints@1", keep=2) == 2
    assert snaps.latest("lints@1") == latest
    other = snaps.latest("lints@2")
    assert other is not None
    assert other.state == b"other"


def test_snapshot_errors(engine: Engine) -> None:
    snaps = SnapshotStore(engine)
    with pytest.raises(StoreError, match="state must be bytes"):
        snaps.save("lints@1", "text")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="keep must be at least 1"):
        snaps.prune("lints@1", keep=0)
