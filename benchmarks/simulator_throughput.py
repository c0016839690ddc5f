"""Throughput of the vectorised simulator: visitor decisions served per second on one core.

Each timed call draws a batch of visits (``Market.observe``), builds a decision for them and draws the
visitors' responses (``Market.step``), i.e. the full cost the simulator adds to a benchmark. Beside it,
in the same run, a plain numpy baseline does the least a simulator must do per visit: one uniform draw,
one logistic function and one comparison.

Run: ``python benchmarks/simulator_throughput.py [--batch 100000] [--repeats 40]`` (it pins BLAS and
OpenMP to one thread; run it under ``taskset -c 0`` to pin the process to one core).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import pricepilot as pp  # noqa: E402


def _timings(fn: Callable[[], object], repeats: int) -> np.ndarray:
    fn()  # warm-up
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - start
    return out


def measure(scenario: str, batch: int, repeats: int, seed: int = 0) -> dict[str, object]:
    """Median and p99 of visits per second for the simulator and for the numpy baseline."""
    market = pp.market.make(scenario, seed=seed)
    actions = np.random.default_rng(seed).integers(market.n_actions, size=batch)
    ones = np.ones(batch)
    rows = np.arange(batch)

    def simulate() -> object:
        b = market.observe(batch)
        decision = pp.Decision(actions, ones, b.context.prices[rows, actions], "bench")
        return market.step(b, decision)

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(batch)

    def baseline() -> object:
        return rng.random(batch) < 0.5 * (1.0 + np.tanh(0.5 * x))

    result: dict[str, object] = {
        "scenario": scenario,
        "batch": batch,
        "repeats": repeats,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "numpy": np.__version__,
        "pricepilot": pp.__version__,
    }
    for name, fn in (("simulator", simulate), ("numpy_baseline", baseline)):
        secs = _timings(fn, repeats)
        rate = batch / secs
        result[name] = {
            "median_visits_per_s": float(np.median(rate)),
            "p99_visits_per_s": float(np.percentile(rate, 1)),  # the slow tail: 99% of calls were faster
            "median_ns_per_visit": float(np.median(secs) / batch * 1e9),
            "p99_ns_per_visit": float(np.percentile(secs, 99) / batch * 1e9),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="ecommerce")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args()
    result = measure(args.scenario, args.batch, args.repeats)
    sim, base = result["simulator"], result["numpy_baseline"]
    assert isinstance(sim, dict)
    assert isinstance(base, dict)
    print(json.dumps(result, indent=2))
    print(
        f"\n| {args.scenario} | {args.batch:,} | {sim['median_visits_per_s']:,.0f} | "
        f"{sim['p99_visits_per_s']:,.0f} | {base['median_visits_per_s']:,.0f} | "
        f"{base['median_visits_per_s'] / sim['median_visits_per_s']:.1f}x |"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
