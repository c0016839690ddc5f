from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pricepilot as pp
from pricepilot.evaluation import BenchmarkReport, RunCurve

SMALL = {"n_items": 20, "n_visitors": 3_000}


def _run(seeds: tuple[int, ...] = (0,), visits: int = 20_000) -> BenchmarkReport:
    market = pp.market.make("ecommerce", **SMALL)
    policies: dict[str, pp.policies.PolicyBase | str] = {
        "list_price": "list_price",
        "best_uniform": "best_uniform",
        "thompson": pp.policies.make("thompson", market.ladder),
    }
    return pp.evaluation.benchmark(market, policies, visits=visits, seeds=seeds, batch_size=500)


def test_same_seed_same_results() -> None:
    a, b = _run(), _run()
    drop = ["decisions_per_s"]
    pd.testing.assert_frame_equal(a.table().drop(columns=drop), b.table().drop(columns=drop))
    for key, curve in a.curves.items():
        np.testing.assert_array_equal(curve.regret, b.curves[key].regret)


def test_report_columns_and_oracle_bounds() -> None:
    report = _run(seeds=(0, 1))
    table = report.table()
    assert list(table["policy"]) == ["list_price", "best_uniform", "thompson"] * 2
    assert np.all(table["reward_to_oracle"] <= 1.0)
    assert np.all(table["regret"] >= 0)
    best = table[table["policy"] == "best_uniform"]
    assert np.all(best["reward_to_oracle"] < 0.99)  # personalisation has something to win
    # best_uniform is (nearly) the best fixed price in hindsight, list price is not
    per_visit = table["regret_vs_best_fixed"] / table["visits"]
    assert np.all(per_visit[table["policy"] == "best_uniform"] < 0.02)
    assert np.all(per_visit[table["policy"] == "list_price"] > 0.05)
    summary = report.summary()
    assert list(summary.index) == ["list_price", "best_uniform", "thompson"]
    assert "reward_to_oracle_sd" in summary
    assert "| thompson |" in report.to_markdown()


def test_json_round_trip_and_plot(tmp_path: Path) -> None:
    report = _run()
    report.to_json(tmp_path / "bench.json")
    again = BenchmarkReport.from_json(tmp_path / "bench.json")
    pd.testing.assert_frame_equal(again.table(), report.table())
    assert again.meta["scenario"] == "ecommerce"
    assert again.meta["config"]["n_items"] == 20
    assert again.meta["seeds"] == [0]
    report.plot(tmp_path / "regret.png")
    assert (tmp_path / "regret.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_growth_exponent_tells_linear_from_sublinear() -> None:
    t = np.arange(1.0, 101.0)
    assert RunCurve(t, 3 * t, 3 * t).growth_exponent() == pytest.approx(1.0)
    assert RunCurve(t, np.sqrt(t), np.sqrt(t)).growth_exponent() == pytest.approx(0.5)
    assert np.isnan(RunCurve(t, -t, -t).growth_exponent())


def test_bad_arguments_are_named() -> None:
    market = pp.market.make("ecommerce", **SMALL)
    with pytest.raises(ValueError, match="at least one policy"):
        pp.evaluation.benchmark(market, {}, visits=1000)
    with pytest.raises(ValueError, match=r"visits \(10\) must be at least batch_size"):
        pp.evaluation.benchmark(market, {"l": "list_price"}, visits=10, batch_size=100)


def test_ratios_compare_policies_seed_by_seed() -> None:
    report = _run(seeds=(0, 1))
    ratios = report.ratios("best_uniform", ["list_price", "best_uniform"])
    table = report.table().pivot(index="seed", columns="policy", values="expected_reward_per_visit")
    expected = (table["best_uniform"] / table["list_price"]).mean()
    assert ratios.loc["list_price", "mean"] == pytest.approx(expected)
    assert ratios.loc["best_uniform", "min"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"no rows for policy \['vw'\]"):
        report.ratios("best_uniform", ["vw"])
