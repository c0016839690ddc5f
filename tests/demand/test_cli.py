"""The `pricepilot demand fit` command and `pricepilot bench --scenario oj`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pricepilot.cli import app
from tests.demand.conftest import SyntheticOJ


def test_cli_fits_and_writes_a_calibration(synthetic_oj: SyntheticOJ, tmp_path: Path) -> None:
    folder = tmp_path / "dominicks_oj"
    folder.mkdir()
    synthetic_oj.data.sales.to_csv(folder / "orange_juice_sales.csv.gz", index=False)
    synthetic_oj.data.stores.to_csv(folder / "orange_juice_store_demographics.csv", index=False)
    out = tmp_path / "oj.json"
    result = CliRunner().invoke(app, ["demand", "fit", "--data", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pooled log-log" in result.output
    assert out.is_file()
    missing = CliRunner().invoke(app, ["demand", "fit", "--data", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "not found" in missing.output


def test_cli_benches_oj(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--scenario", "oj", "--policies", "best_uniform,logistic_ts", "--visits", "2000"]
    result = CliRunner().invoke(app, [*args, "--seeds", "0", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "oj: 2,000 visits" in result.output
    assert '"calibration": "oj"' in out.read_text()
