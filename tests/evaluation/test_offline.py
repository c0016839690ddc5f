from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pricepilot as pp
from pricepilot.data import LoggedData
from pricepilot.evaluation import evaluate_offline


def test_report_has_every_estimator_the_truth_and_the_gate(
    uniform_logs: tuple[Any, LoggedData], tmp_path: Path
) -> None:
    market, logged = uniform_logs
    policies = {
        "best": pp.policies.make("fixed", market.ladder, action=2),
        "dear": pp.policies.make("fixed", market.ladder, action=8),
    }
    report = evaluate_offline(logged, policies, current="dear", dm_refits=4)
    table = report.table()
    assert len(table) == 2 * 6
    assert set(table["estimator"]) == {"dm", "ips", "snips", "dr", "sndr", "switch_dr"}
    assert report.truths["best"] == pytest.approx(
        logged.true_value(policies["best"].action_probabilities(logged.contexts()))
    )
    assert report.gate is not None
    assert report.gate.promote
    md = report.to_markdown()
    assert "Promotion gate (dr): **PROMOTE**" in md
    assert "| truth |" in md
    paths = report.write(tmp_path / "report")
    assert [p.name for p in paths] == ["report.md", "report.json", "estimates.png"]
    record = json.loads(paths[1].read_text())
    assert record["gate"]["promote"] is True
    assert record["meta"]["rounds"] == logged.n
    assert record["meta"]["dm_refits"] == 4
    assert paths[2].stat().st_size > 5_000


def test_bad_arguments(uniform_logs: tuple[Any, LoggedData]) -> None:
    market, logged = uniform_logs
    with pytest.raises(ValueError, match="at least one policy"):
        evaluate_offline(logged, {})
    with pytest.raises(ValueError, match="current policy 'x' is not among"):
        evaluate_offline(logged, {"a": pp.policies.make("list_price", market.ladder)}, current="x")


def test_dm_interval_includes_the_refitted_models_error(uniform_logs: tuple[Any, LoggedData]) -> None:
    market, full = uniform_logs
    logged = full.take(slice(0, 2_000))
    policies = {"best": pp.policies.make("fixed", market.ladder, action=2)}
    fixed = evaluate_offline(logged, policies, estimators=["dm", "dr"], dm_refits=0)
    refit = evaluate_offline(logged, policies, estimators=["dm", "dr"], dm_refits=6)
    (dm_fixed, dr_fixed), (dm_refit, dr_refit) = fixed.estimates["best"], refit.estimates["best"]
    assert dm_refit.value == dm_fixed.value
    assert dm_refit.ci_high - dm_refit.ci_low > 2 * (dm_fixed.ci_high - dm_fixed.ci_low)
    assert dr_refit == dr_fixed  # the other estimators are unchanged
    assert refit.meta["dm_refits"] == 6
    assert evaluate_offline(logged, policies, estimators=["ips"]).meta["dm_refits"] == 0
    with pytest.raises(ValueError, match=r"dm_refits must be 0 .* or at least 2, got 1"):
        evaluate_offline(logged, policies, dm_refits=1)
