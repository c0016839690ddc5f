"""In-process cost of pricing offer requests together: ``price_many`` per request, by group size.

The service prices the requests that arrive together as one group (``service.batching``): one pass
through the policy, the guardrails and the ranking for all their candidates, so a group's cost is
mostly per call (numpy's overhead on small arrays) and the cost per request falls as groups grow.
This measures it on the state the service runs with (``service_load.prepare_store``: ``logistic_ts``
fitted on 5,000 simulated visits, loaded as the live policy from a temporary SQLite store) and the
200 request bodies of ``service_load`` (10 candidates each). The trivial baseline, measured in the
same run on the same groups, is the ``list_price`` policy (always the list price) through the same
path: what the path costs around the policy.

Run: ``python benchmarks/service_pricing.py [--sizes 1,2,4,8,16] [--groups 400] [--json PATH]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import pricepilot as pp  # noqa: E402
from pricepilot.service import Settings, build_artifact  # noqa: E402
from pricepilot.service.pricing import price_many  # noqa: E402
from pricepilot.service.schemas import OfferRequest  # noqa: E402
from pricepilot.service.state import LiveState  # noqa: E402
from pricepilot.store import PolicyRegistry, make_engine  # noqa: E402
from service_load import offer_bodies, prepare_store, write_record  # noqa: E402 (a script beside this one)


def _live(db_url: str, name: str) -> tuple[LiveState, Settings]:
    settings = Settings(db_url=db_url, policy_name=name, journal_offers=False)
    state = LiveState(make_engine(db_url), settings)
    if state.reload() is None:
        raise RuntimeError(f"no active version of {name!r} in {db_url}")
    return state, settings


def _per_request_us(
    state: LiveState, settings: Settings, requests: list[OfferRequest], size: int, groups: int
) -> list[float]:
    """Microseconds per request of ``groups`` calls of ``price_many`` on groups of ``size``."""
    out = []
    for g in range(groups):
        start = (g * size) % (len(requests) - size + 1)
        group = requests[start : start + size]
        t0 = time.perf_counter()
        priced = price_many(group, state, settings)
        out.append((time.perf_counter() - t0) * 1e6 / size)
        bad = [p for p in priced if isinstance(p, Exception)]
        if bad:
            raise RuntimeError(f"a request failed to price: {bad[0]!r}")
    return out


def run(sizes: Sequence[int], groups: int, seed: int = 0) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="pricepilot-pricing-"))
    try:
        db_url = f"sqlite:///{workdir / 'service.db'}"
        _token, names = prepare_store(db_url, seed=seed)
        market = pp.market.make("ecommerce", seed=seed)
        engine = make_engine(db_url)
        registry = PolicyRegistry(engine)
        trivial = pp.policies.make("list_price", ladder=market.ladder, seed=seed)
        registry.promote("baseline", registry.register("baseline", build_artifact(trivial, names)).version)
        engine.dispose()
        requests = [OfferRequest.model_validate(b) for b in offer_bodies(200, seed=seed + 1)]
        rows = []
        for name, label in (("baseline", "list_price (trivial baseline)"), ("default", "logistic_ts")):
            state, settings = _live(db_url, name)
            for size in sizes:
                _per_request_us(state, settings, requests, size, 20)  # warm up
                us = np.array(_per_request_us(state, settings, requests, size, groups))
                rows.append(
                    {
                        "policy": label,
                        "group_size": size,
                        "groups": groups,
                        "median_us_per_request": float(np.median(us)),
                        "p99_us_per_request": float(np.percentile(us, 99)),
                    }
                )
            state.engine.dispose()
        return {
            "benchmark": "service_pricing",
            "date": dt.date.today().isoformat(),
            "command": " ".join(sys.argv),
            "candidates_per_request": 10,
            "rows": rows,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,4,8,16", help="group sizes, comma-separated")
    parser.add_argument("--groups", type=int, default=400, help="groups timed per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the JSON record here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(s < 1 or s > 200 for s in sizes) or args.groups < 1:
        parser.error(f"--sizes must be in 1..200 and --groups >= 1, got {args.sizes!r}, {args.groups}")
    record = run(sizes, args.groups, args.seed)
    print(f"{'policy':32s} {'group':>5s} {'median us/req':>14s} {'p99 us/req':>11s}")
    for r in record["rows"]:
        print(
            f"{r['policy']:32s} {r['group_size']:5d} {r['median_us_per_request']:14.1f} "
            f"{r['p99_us_per_request']:11.1f}"
        )
    write_record(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
