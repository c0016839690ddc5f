"""Closed loop through the HTTP API: the served policy's reward ratio against the same policy in-process.

For each seed: a real server (``uvicorn`` in a subprocess, one worker, a temporary SQLite file) serves a
fresh policy (``--policy``, registry defaults, policy seed = market seed), registered and promoted over
HTTP. The default e-commerce market draws ``--visits`` visits in batches of 1,000; every visit is one
``POST /v1/offers`` (``--concurrency`` connections at once), the visitors answer the served prices from
the market's true purchase model, and the outcomes go back through ``POST /v1/events`` (one request of
1,000 events per batch, so the live policy learns batch by batch as in-process). Each served price is
scored by its exact expected reward against the oracle's.

In the same run, :func:`pricepilot.evaluation.benchmark.run_one` runs the same policy in-process on the
same traffic (same seed, same batches): with the same policy seed, and with ``--yardstick`` other policy
seeds (``seed + 1000 k``). Their spread is the noise yardstick: runs of one policy on one traffic that
differ only in its random draws. (Served one visit at a time in a sequential loop, the HTTP run equals
the in-process run to the last digit; with concurrent requests the visits of a batch reach the policy
in another order, so they meet other random draws, which is that same noise.)

Guardrails are set so that they never move a ladder price (the market can only score ladder prices):
no daily-change limit (its default 25 % would bind on a 0.7-1.3 ladder), and no protected attribute
(the market's ``visitor_age_band`` would otherwise be hidden from the served policy only). Floor (cost),
ceiling (1.5 x list) and largest discount (50 %) stay on and do not bind on this ladder; the script
counts offers whose served price left the ladder, and it is 0.

Run: ``python benchmarks/service_closed_loop.py [--visits 50000] [--seeds 0,1,2] [--json PATH]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

import pricepilot as pp  # noqa: E402
from pricepilot.evaluation.benchmark import build_policy, run_one  # noqa: E402
from pricepilot.guardrails import GuardrailConfig  # noqa: E402
from pricepilot.service import Settings, build_artifact, create_key  # noqa: E402
from pricepilot.service.auth import ensure_tables  # noqa: E402
from pricepilot.service.closed_loop import JsonBody, LoopTrace, Transport, run_closed_loop  # noqa: E402
from pricepilot.store import make_engine, upgrade  # noqa: E402

BATCH = 1_000
SCENARIO = "ecommerce"
#: Guardrails that never move a price of the market's 0.7-1.3 ladder (see the module docstring).
LOOSE = GuardrailConfig(max_daily_change=math.inf, protected=())


def serve(db_url: str, port: int) -> None:
    """The server process: the service on ``db_url`` with :data:`LOOSE` guardrails, on loopback."""
    import uvicorn

    from pricepilot.service import create_app

    settings = Settings(db_url=db_url, guardrails=LOOSE, snapshot_every=5_000)
    app = create_app(settings)
    # keep idle connections open while the client steps the market (uvicorn closes them after 5 s)
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_keep_alive=300
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(base: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before answering")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server at {base} did not answer /healthz within {timeout:.0f} s")


class HttpTransport:
    """Offers posted over ``concurrency`` keep-alive connections at once; events one request a batch."""

    def __init__(self, base: str, token: str, concurrency: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(base_url=base, headers=self.headers, limits=limits, timeout=60.0)
        self.concurrency = concurrency
        self.requests = 0

    async def _offers(self, bodies: Sequence[JsonBody]) -> list[JsonBody]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(body: JsonBody) -> JsonBody:
            async with gate:
                r = await self.client.post("/v1/offers", json=body)
            if r.status_code != 200:
                raise RuntimeError(f"/v1/offers answered {r.status_code}: {r.text[:500]}")
            offer: JsonBody = r.json()["offers"][0]
            return offer

        return list(await asyncio.gather(*(one(b) for b in bodies)))

    async def _events(self, events: list[JsonBody]) -> JsonBody:
        r = await self.client.post("/v1/events", json={"events": events})
        if r.status_code != 200:
            raise RuntimeError(f"/v1/events answered {r.status_code}: {r.text[:500]}")
        body: JsonBody = r.json()
        return body

    def offers(self, bodies: Sequence[JsonBody]) -> list[JsonBody]:
        self.requests += len(bodies)
        return self.loop.run_until_complete(self._offers(bodies))

    def events(self, events: list[JsonBody]) -> JsonBody:
        self.requests += 1
        return self.loop.run_until_complete(self._events(events))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def http_run(policy: str, seed: int, visits: int, concurrency: int, folder: Path) -> tuple[LoopTrace, float]:
    """One closed-loop run through a fresh server; the trace and the wall-clock seconds of the loop."""
    db_url = f"sqlite:///{folder / f'closed-loop-{seed}.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    ensure_tables(engine)
    token = create_key(engine, ["admin"], label="closed-loop benchmark")
    engine.dispose()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, __file__, "--serve", db_url, "--port", str(port)])
    try:
        _wait_up(base, server)
        market = pp.market.make(SCENARIO, seed=seed)
        artifact = build_artifact(build_policy(policy, market, seed), market.feature_names)
        headers = {"Authorization": f"Bearer {token}"}
        body = {"name": "default", "artifact": base64.b64encode(artifact).decode()}
        r = httpx.post(f"{base}/v1/policies", json=body, headers=headers, timeout=60.0)
        r.raise_for_status()
        httpx.post(f"{base}/v1/policies/default@1/promote", headers=headers, timeout=60.0).raise_for_status()
        transport = HttpTransport(base, token, concurrency)
        try:
            start = time.perf_counter()
            trace = run_closed_loop(
                market, Transport(transport.offers, transport.events), visits, BATCH, run=f"seed{seed}"
            )
            seconds = time.perf_counter() - start
        finally:
            transport.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    return trace, seconds


def in_process(policy: str, seed: int, policy_seed: int, visits: int) -> dict[str, Any]:
    """The benchmark's row for ``policy`` (seeded ``policy_seed``) on market seed ``seed``."""
    config = pp.market.scenario(SCENARIO)
    row, _ = run_one(config, lambda m, _s: build_policy(policy, m, policy_seed), seed, visits, BATCH)
    return row


def _mean_sd(values: Sequence[float]) -> str:
    arr = np.asarray(values, dtype=np.float64)
    sd = float(arr.std(ddof=1)) if arr.size > 1 else float("nan")
    return f"{arr.mean():.4f} ± {sd:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=50_000)
    parser.add_argument("--seeds", default="0,1,2", help="market seeds, comma-separated")
    parser.add_argument("--policy", default="logistic_ts", help="registry name (defaults of its config)")
    parser.add_argument("--concurrency", type=int, default=16, help="offer requests in flight at once")
    parser.add_argument("--yardstick", type=int, default=3, help="other policy seeds run in-process")
    parser.add_argument("--json", type=Path, default=None, help="write every row here")
    parser.add_argument("--serve", metavar="DB_URL", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.port)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: list[dict[str, Any]] = []
    tail = args.visits - args.visits // 4
    with tempfile.TemporaryDirectory(prefix="pricepilot-loop-") as tmp:
        for seed in seeds:
            trace, seconds = http_run(args.policy, seed, args.visits, args.concurrency, Path(tmp))
            same = in_process(args.policy, seed, seed, args.visits)
            others = [
                in_process(args.policy, seed, seed + 1_000 * k, args.visits)["reward_to_oracle"]
                for k in range(1, args.yardstick + 1)
            ]
            row = {
                "seed": seed,
                "visits": args.visits,
                "http": trace.ratio(),
                "http_tail": trace.ratio(tail),
                "in_process": same["reward_to_oracle"],
                "in_process_tail": same["reward_to_oracle_tail"],
                "in_process_other_seeds": others,
                "list_price": trace.list_price_ratio(),
                "learned": trace.learned,
                "off_ladder": trace.off_ladder,
                "conversion": float(trace.purchased.mean()),
                "http_seconds": seconds,
                "offers_per_s": args.visits / seconds,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    diff = [r["http"] - r["in_process"] for r in rows]
    spread = [float(np.std([r["in_process"], *r["in_process_other_seeds"]], ddof=1)) for r in rows]
    print(f"\npolicy {args.policy}, {args.visits:,} visits, seeds {seeds}")
    print("| served through HTTP | in-process | HTTP - in-process | sd over policy seeds, in-process |")
    print("|---|---|---|---|")
    print(
        f"| {_mean_sd([r['http'] for r in rows])} | {_mean_sd([r['in_process'] for r in rows])} | "
        f"{_mean_sd(diff)} | {float(np.sqrt(np.mean(np.square(spread)))):.4f} |"
    )
    print(
        f"tail (last quarter): HTTP {_mean_sd([r['http_tail'] for r in rows])}, "
        f"in-process {_mean_sd([r['in_process_tail'] for r in rows])}"
    )
    print(
        f"off-ladder prices: {sum(r['off_ladder'] for r in rows)}; outcomes learned: "
        f"{[r['learned'] for r in rows]}"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"policy": args.policy, "scenario": SCENARIO, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
