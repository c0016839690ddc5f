"""Throughput of event preprocessing on the full Ta-Feng file (817,741 lines).

The timed pipeline is :func:`pricepilot.data.ta_feng_events`: read the zipped CSV, map the lines to
purchase events (unit price = sales price / amount), pseudonymise the customer ids with HMAC-SHA256,
clean (every rejected line counted by reason), build the typed ``EventBatch`` with content ids, and
de-duplicate by id and by content. Beside it, in the same run, the baseline is a plain
``pandas.read_csv`` of the same zip (all columns as text), the least any preprocessing must do.
One extra run times each stage separately.

Run: ``python benchmarks/preprocess_ta_feng.py [--path ../shared/data/ta_feng] [--repeats 3]
[--json OUT.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pricepilot.data import EventBatch, Pseudonymiser, clean, deduplicate, ta_feng_events
from pricepilot.data.datasets import TA_FENG_EVENT_COLUMNS, read_ta_feng_raw, with_unit_price
from pricepilot.data.pseudonym import pseudonymise_column
from pricepilot.data.readers import canonical_frame, read_frame

DEFAULT_PATH = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ta_feng"
KEY = "benchmark-key-not-a-secret-0123456789"


def _median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, list[float], object]:
    times: list[float] = []
    result: object = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def stages(path: Path) -> dict[str, float]:
    """Seconds of each stage, run once in the order ``ingest`` runs them."""
    out: dict[str, float] = {}
    start = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal start
        now = time.perf_counter()
        out[name] = now - start
        start = now

    raw = read_ta_feng_raw(path)
    lap("read_zip")
    frame = canonical_frame(read_frame(with_unit_price(raw)), TA_FENG_EVENT_COLUMNS)
    lap("map_columns")
    frame = pseudonymise_column(frame, "user", Pseudonymiser.from_key(KEY))
    lap("pseudonymise")
    kept, _ = clean(frame, timestamp_format="%m/%d/%Y")
    lap("clean")
    events = EventBatch.from_frame(kept)
    lap("events_and_content_ids")
    deduplicate(events)
    lap("deduplicate")
    return out


def measure(path: Path, repeats: int) -> dict[str, Any]:
    zip_file = path / "ta_feng.csv.zip"
    base_s, base_all, frame = _median_seconds(lambda: pd.read_csv(zip_file, dtype=str), repeats)
    rows = len(frame)  # type: ignore[arg-type]
    pipe_s, pipe_all, result = _median_seconds(lambda: ta_feng_events(path, key=KEY), repeats)
    report = result.report  # type: ignore[attr-defined]
    return {
        "benchmark": "preprocess_ta_feng",
        "rows": rows,
        "repeats": repeats,
        "pipeline_s_median": pipe_s,
        "pipeline_s_all": pipe_all,
        "pipeline_rows_per_s": rows / pipe_s,
        "baseline_read_csv_s_median": base_s,
        "baseline_s_all": base_all,
        "baseline_rows_per_s": rows / base_s,
        "pipeline_to_baseline_time": pipe_s / base_s,
        "report": report.to_dict(),
        "stages_s": stages(path),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "pandas": pd.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="the ta_feng folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the record here")
    args = parser.parse_args()
    record = measure(args.path, args.repeats)
    print(f"Ta-Feng, {record['rows']:,} lines, median of {record['repeats']} runs")
    print("| step | seconds (median) | rows/s |")
    print("| --- | ---: | ---: |")
    for label, s, r in (
        ("baseline: pandas.read_csv(zip)", "baseline_read_csv_s_median", "baseline_rows_per_s"),
        ("pipeline: ta_feng_events", "pipeline_s_median", "pipeline_rows_per_s"),
    ):
        print(f"| {label} | {record[s]:.2f} | {record[r]:,.0f} |")
    print(f"pipeline / baseline time: {record['pipeline_to_baseline_time']:.2f}")
    print("stages (one run): " + ", ".join(f"{k} {v:.2f} s" for k, v in record["stages_s"].items()))
    print(f"report: {record['report']}")
    if args.json is not None:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
