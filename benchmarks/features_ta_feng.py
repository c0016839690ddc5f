"""Feature throughput on the full Ta-Feng file (817,741 purchase lines).

The events come from ``pricepilot.data.ta_feng_events`` (not timed). Timed, median of ``--repeats``:
visitor history aggregates, item features, context features of every line (time features and the
competitor price ratio; Ta-Feng has no competitor quotes, so the ratio is the fallback) and the
visitor feature matrix of every line. The baseline, in the same run, is one bare pandas group-by
(``frame.groupby("user").size()``) over the same events.

    .venv/bin/python benchmarks/features_ta_feng.py --data ../shared/data/ta_feng \\
        --json benchmarks/results/recommend/features_ta_feng.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.data.datasets import ta_feng_events
from pricepilot.features import context_features, feature_matrix, item_features, visitor_features


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="the ta_feng folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    events = ta_feng_events(args.data, key="features-benchmark").events
    as_of = pd.Timestamp(events.timestamp.max()) + pd.Timedelta(days=1)
    n = events.n
    visitors = visitor_features(events, as_of)
    steps: dict[str, Callable[[], Any]] = {
        "baseline: groupby(user).size()": lambda: pd.DataFrame({"user": events.user}).groupby("user").size(),
        "visitor_features": lambda: visitor_features(events, as_of),
        "item_features": lambda: item_features(events, as_of),
        "context_features (every line)": lambda: context_features(
            events.timestamp, events, events.item, events.price
        ),
        "feature_matrix (visitor, every line)": lambda: feature_matrix(
            visitors, events.user, log_columns=["purchases", "orders", "units", "spend", "views"]
        ),
    }
    rows = []
    print(f"ta_feng: {n:,} events, {len(visitors):,} visitors")
    print("| step | seconds (median) | events/s | x baseline |")
    print("| --- | ---: | ---: | ---: |")
    base = None
    for name, fn in steps.items():
        secs = _median_seconds(fn, args.repeats)
        base = secs if base is None else base
        print(f"| {name} | {secs:.3f} | {n / secs:,.0f} | {secs / base:.1f} |", flush=True)
        rows.append({"step": name, "seconds": secs, "events_per_s": n / secs, "x_baseline": secs / base})
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = visitors.describe().loc[["mean", "50%"]].replace({np.nan: None}).to_dict()
        record = {"n_events": n, "n_visitors": len(visitors), "repeats": args.repeats, "rows": rows,
                  "visitor_summary": summary}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
