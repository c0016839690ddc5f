from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pricepilot.cli import app

runner = CliRunner()


def test_bench_writes_table_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "bench",
            "--policies",
            "list_price,best_uniform",
            "--visits",
            "4000",
            "--seeds",
            "0,1",
            "--set",
            "n_visitors=500",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "best_uniform" in result.output
    assert "| list_price |" in (out / "bench.md").read_text()
    record = json.loads((out / "bench.json").read_text())
    assert record["meta"]["seeds"] == [0, 1]
    assert record["meta"]["config"]["n_visitors"] == 500
    assert len(record["rows"]) == 4
    assert (out / "regret.png").stat().st_size > 1000


def test_bench_errors_name_the_bad_value(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--scenario", "nope", "--visits", "1000"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    result = runner.invoke(app, ["bench", "--policies", "magic", "--visits", "1000"])
    assert result.exit_code == 2
    assert "unknown policy ['magic']" in result.output
    result = runner.invoke(app, ["bench", "--seeds", "a,b"])
    assert result.exit_code == 2
    assert "comma-separated integers" in result.output


def test_lists() -> None:
    assert "ecommerce" in runner.invoke(app, ["scenarios"]).output
    assert "thompson" in runner.invoke(app, ["policies"]).output


def test_compare_prints_ratios(tmp_path: Path) -> None:
    record = tmp_path / "bench.json"
    args = ["bench", "--policies", "list_price,best_uniform", "--visits", "2000", "--seeds", "0,1"]
    assert runner.invoke(app, [*args, "--set", "n_visitors=300", "--json", str(record)]).exit_code == 0
    result = runner.invoke(app, ["compare", str(record), "--policy", "best_uniform", "--to", "list_price"])
    assert result.exit_code == 0, result.output
    assert "list_price" in result.output
    bad = runner.invoke(app, ["compare", str(record), "--policy", "best_uniform", "--to", "magic"])
    assert bad.exit_code == 2
    assert "no rows for policy ['magic']" in bad.output
