from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

import pricepilot as pp
from pricepilot.store import PolicyRegistry, StoreError, pack_dir, unpack_dir


def test_versions_count_up_per_name(engine: Engine) -> None:
    reg = PolicyRegistry(engine)
    assert [reg.register("lints", b"v%d" % i).version for i in range(1, 4)] == [1, 2, 3]
    assert reg.register("eps", b"e").version == 1
    assert [v.tag for v in reg.versions("lints")] == ["lints@1", "lints@2", "lints@3"]
    assert {v.status for v in reg.versions("lints")} == {"registered"}
    assert reg.names() == ["eps", "lints"]
    assert reg.artifact("lints", 2) == b"v2"
    assert reg.active("lints") is None


def test_promote_retires_the_live_version_and_rollback_restores_it(engine: Engine) -> None:
    reg = PolicyRegistry(engine)
    for i in range(3):
        reg.register("lints", bytes([i]))
    assert reg.promote("lints", 1).status == "active"
    reg.promote("lints", 3)
    assert [v.status for v in reg.versions("lints")] == ["retired", "registered", "active"]
    back = reg.rollback("lints")
    assert back.tag == "lints@1"
    assert reg.active("lints") == back
    assert [v.status for v in reg.versions("lints")] == ["active", "registered", "retired"]
    reg.promote("lints", 2)
    reg.promote("lints", 3)
    assert reg.rollback("lints").version == 2


def test_registry_errors_name_the_problem(engine: Engine) -> None:
    reg = PolicyRegistry(engine)
    reg.register("lints", b"x")
    with pytest.raises(StoreError, match=r"no policy lints@7; registered: \['lints@1'\]"):
        reg.promote("lints", 7)
    with pytest.raises(StoreError, match="no active version"):
        reg.rollback("lints")
    reg.promote("lints", 1)
    with pytest.raises(StoreError, match="first one ever promoted"):
        reg.rollback("lints")
    with pytest.raises(StoreError, match="without '@'"):
        reg.register("a@b", b"x")


def test_a_saved_policy_travels_through_the_registry(engine: Engine, tmp_path: Path) -> None:
    ladder = pp.types.PriceLadder.linear(levels=5)
    policy = pp.policies.make("uniform_random", ladder=ladder, seed=3)
    policy.save(tmp_path / "saved")
    reg = PolicyRegistry(engine)
    version = reg.register("uniform_random", pack_dir(tmp_path / "saved"))
    loaded = pp.policies.load(unpack_dir(reg.artifact("uniform_random", version.version), tmp_path / "back"))
    assert loaded.name == "uniform_random"
    np.testing.assert_array_equal(loaded.ladder.multipliers, ladder.multipliers)
