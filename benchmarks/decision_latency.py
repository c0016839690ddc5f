"""In-process latency of a pricing decision and throughput of learning from outcomes.

For each policy: the time of one ``act`` call that prices 10 candidate items for one visitor (a
``ContextBatch`` of 10 rows), median and p99 over many calls, after the policy has learned from
``--warm`` visits of the default market; and the rate at which ``update`` applies outcomes, in
batches of ``--update-batch``. A trivial numpy baseline is measured in the same run: the matrix
product of the 10 candidates' features with a (d, n_actions) weight matrix and an argmax.

Run: ``python benchmarks/decision_latency.py [--policies logistic_ts,lints,...] [--calls 3000]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import pricepilot as pp  # noqa: E402
from pricepilot.evaluation import build_policy  # noqa: E402

CANDIDATES = 10


def _latencies(fn: Callable[[], object], calls: int) -> np.ndarray:
    for _ in range(50):
        fn()
    out = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        fn()
        out[i] = time.perf_counter_ns() - start
    return out / 1_000.0  # microseconds


def measure(name: str, warm: int, calls: int, update_batch: int, seed: int = 0) -> dict[str, float | str]:
    market = pp.market.make("ecommerce", seed=seed)
    policy = build_policy(name, market, seed)
    done = 0
    while done < warm:
        batch = market.observe(1_000)
        policy.update(market.step(batch, policy.act(batch.context)))
        done += 1_000
    # One visitor looking at 10 candidate items.
    batch = market.observe(CANDIDATES, visitors=np.zeros(CANDIDATES, dtype=np.int64))
    contexts = batch.context
    act = _latencies(lambda: policy.act(contexts), calls)

    outcome_batches = []
    for _ in range(5):
        b = market.observe(update_batch)
        outcome_batches.append(market.step(b, policy.act(b.context)))
    start = time.perf_counter()
    for o in outcome_batches:
        policy.update(o)
    update_rate = 5 * update_batch / (time.perf_counter() - start)
    return {
        "policy": name,
        "act_median_us": float(np.median(act)),
        "act_p99_us": float(np.percentile(act, 99)),
        "updates_per_s": float(update_rate),
    }


def baseline(calls: int, d: int) -> dict[str, float | str]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((CANDIDATES, d))
    w = rng.standard_normal((d, 9))
    lat = _latencies(lambda: np.argmax(x @ w, axis=1), calls)
    return {
        "policy": "numpy matmul+argmax (baseline)",
        "act_median_us": float(np.median(lat)),
        "act_p99_us": float(np.percentile(lat, 99)),
        "updates_per_s": float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default="list_price,thompson,linucb,lints,logistic_ts")
    parser.add_argument("--warm", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=3_000)
    parser.add_argument("--update-batch", type=int, default=1_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    d = pp.market.make("ecommerce").n_features + 1
    rows = [baseline(args.calls, d)]
    for name in args.policies.split(","):
        rows.append(measure(name.strip(), args.warm, args.calls, args.update_batch))
    print("| policy | act median µs (1 visitor, 10 items) | act p99 µs | updates/s |")
    print("|---|---|---|---|")
    for r in rows:
        cells = f"{r['act_median_us']:.1f} | {r['act_p99_us']:.1f} | {r['updates_per_s']:,.0f}"
        print(f"| {r['policy']} | {cells} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
