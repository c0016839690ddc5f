"""Latency of price-aware re-ranking (:func:`pricepilot.recommend.rerank`), in-process.

Per call: one visitor with 10 candidates (the serving case) and a batch of 1,000 visitors with 10
candidates each. The baseline, in the same run, is a bare ``numpy.argsort`` of the same relevance
scores (what ranking by relevance alone costs). Median and p99 over ``--calls`` calls.

    .venv/bin/python benchmarks/recommend_rerank_latency.py \\
        --json benchmarks/results/recommend/rerank_latency.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pricepilot.recommend.rerank import RerankConfig, rerank


def _timings_us(fn: Callable[[], Any], calls: int) -> tuple[float, float]:
    for _ in range(min(calls, 100)):  # warm-up
        fn()
    out = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        fn()
        out[i] = (time.perf_counter_ns() - start) / 1e3
    return float(np.median(out)), float(np.percentile(out, 99))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cfg = RerankConfig(blend=0.5)
    rows = []
    print("| case | call | median µs | p99 µs |")
    print("| --- | --- | ---: | ---: |")
    for n in (1, 1_000):
        rel = rng.normal(size=(n, 10))
        prob = rng.uniform(0.0, 0.5, size=(n, 10))
        price = rng.uniform(5.0, 50.0, size=(n, 10))
        cost = 0.6 * price
        cases: dict[str, Callable[[], Any]] = {
            "baseline: np.argsort(-relevance)": partial(np.argsort, -rel, axis=1),
            "rerank (min-max)": partial(rerank, rel, prob, price, cost, cfg),
            "rerank (rank)": partial(rerank, rel, prob, price, cost, RerankConfig(0.5, normalisation="rank")),
        }
        calls = args.calls if n == 1 else max(args.calls // 10, 10)
        for name, fn in cases.items():
            median, p99 = _timings_us(fn, calls)
            label = f"{n:,} visitor(s) x 10 candidates"
            print(f"| {label} | {name} | {median:.1f} | {p99:.1f} |", flush=True)
            rows.append({"visitors": n, "candidates": 10, "call": name, "median_us": median, "p99_us": p99})
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"calls": args.calls, "seed": args.seed, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
