from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pricepilot as pp
from pricepilot.cli import app
from pricepilot.data import write_logs
from pricepilot.evaluation import log_traffic

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A parquet log of uniform traffic and two saved fixed-price policies."""
    root = tmp_path_factory.mktemp("evaluate")
    market = pp.market.make("ecommerce", seed=7, n_items=20, n_visitors=2_000)
    logs = log_traffic(market, pp.policies.make("uniform_random", market.ladder, seed=7), 6_000)
    write_logs(logs, root / "logs.parquet")
    pp.policies.make("fixed", market.ladder, action=2).save(root / "best")
    pp.policies.make("fixed", market.ladder, action=8).save(root / "dear")
    return root


def test_evaluate_prints_estimates_and_writes_the_report(saved: Path) -> None:
    out = saved / "report"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--logs",
            str(saved / "logs.parquet"),
            "--policy",
            str(saved / "best"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "switch_dr" in result.output
    assert "candidate: best" in result.output
    assert (out / "report.md").is_file()
    assert (out / "estimates.png").stat().st_size > 5_000
    record = json.loads((out / "report.json").read_text())
    assert record["gate"] is None
    assert record["truths"]["candidate: best"] > 0


def test_gate_exit_code_says_promote_or_refuse(saved: Path) -> None:
    logs = str(saved / "logs.parquet")
    better = runner.invoke(
        app, ["evaluate", "--logs", logs, "--policy", str(saved / "best"), "--current", str(saved / "dear")]
    )
    assert better.exit_code == 0, better.output
    assert "PROMOTE" in better.output
    worse = runner.invoke(
        app, ["evaluate", "--logs", logs, "--policy", str(saved / "dear"), "--current", str(saved / "best")]
    )
    assert worse.exit_code == 1, worse.output
    assert "REFUSE" in worse.output


def test_bad_logs_exit_2_naming_column_and_row(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("action,propensity,reward,value_if_bought_0,value_if_bought_1\n0,0.5,1,1,1\n1,0,0,1,1\n")
    result = runner.invoke(app, ["evaluate", "--logs", str(bad), "--policy", str(saved / "best")])
    assert result.exit_code == 2
    assert "column 'propensity', row 1" in result.output
    result = runner.invoke(
        app, ["evaluate", "--logs", str(saved / "logs.parquet"), "--policy", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no saved policy" in result.output
