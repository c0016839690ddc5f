"""HTTP load on ``POST /v1/offers``: latency and throughput of one worker, beside an empty FastAPI route.

Issue 5, point 1: on loopback, one uvicorn worker (uvloop + httptools, access log off), 10 candidates
per request, 16 concurrent connections, ``/v1/offers`` should answer with p99 <= 10 ms and >= 2,000
requests per second. The script

1. builds a temporary SQLite store with a ``logistic_ts`` policy fitted briefly on simulator traffic
   (registered and promoted) and an API key;
2. starts the service exactly as ``pricepilot serve`` would run it (``create_app`` from the
   ``PRICEPILOT_*`` environment, one worker), in a child process on a free loopback port;
3. drives it with ``wrk`` (``-t 1 -c 16 --latency``, a Lua script cycling over 200 different request
   bodies of 10 candidates each), then does the same against a bare FastAPI app with one empty
   ``POST`` route, served by the same uvicorn stack (the baseline, measured in the same run);
4. checks that every request succeeded and that every offer was logged, prints a table (with each
   server's CPU time per request, from ``/proc/<pid>/stat``: what a quiet machine's throughput follows)
   and writes a JSON record.

Run: ``python benchmarks/service_load.py [--duration 20] [--connections 16] [--json PATH]``
(needs ``wrk`` on PATH). Exits non-zero when a server fails to start, a request fails, or an offer
is missing from the audit log. The helpers here (free port, server start/stop, ``wrk`` runs) are
reused by ``service_ingest.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
CANDIDATES = 10
BODIES = 200
UVICORN_STACK = ["--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]


class BenchmarkError(RuntimeError):
    """The benchmark could not run or its traffic failed (the message says which)."""


# ---------------------------------------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def baseline_app() -> Any:
    """The baseline: a bare FastAPI app with one empty ``POST`` route (``/empty``), nothing else."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/empty")
    async def empty() -> dict[str, str]:
        return {}

    return app


@dataclass
class Server:
    """A uvicorn child process serving one app on ``url``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serve(
    app: str, workdir: Path, env: Mapping[str, str] | None = None, ready_path: str = "/healthz"
) -> Iterator[Server]:
    """Run ``uvicorn --factory app`` (one worker, uvloop, httptools, no access log) until the block ends.

    Parameters
    ----------
    app : str, ``module:factory`` of the app (``pricepilot.service.app:create_app`` for the service).
    workdir : Path, where the server's log goes.
    env : extra environment variables (``PRICEPILOT_DB_URL`` ...).
    ready_path : str, a path answering 200 (or any answer but a refused connection) once started.
    """
    port = free_port()
    log = workdir / f"server-{port}.log"
    argv = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += [*UVICORN_STACK, "--log-level", "warning", "--app-dir", str(HERE)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, ready_path)
        yield server
    finally:
        stop(server)


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchmarkError(f"server exited with {server.process.returncode}: {server.log.read_text()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise BenchmarkError(
        f"server at {server.url} did not answer within {timeout} s: {server.log.read_text()}"
    )


def stop(server: Server) -> None:
    """Stop the server gracefully (SIGINT, as Ctrl-C: the app's shutdown runs), then kill it."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    if server.process.returncode not in (0, -signal.SIGINT):
        raise BenchmarkError(
            f"server {server.url} ended with {server.process.returncode}: {server.log.read_text()[-2000:]}"
        )


def post(url: str, body: object, headers: Mapping[str, str] | None = None) -> Any:
    """POST ``body`` as JSON and return the decoded answer; a :class:`BenchmarkError` on a non-2xx."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as err:
        raise BenchmarkError(f"POST {url} answered {err.code}: {err.read()[:500]!r}") from err


# ---------------------------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class LoadResult:
    """What ``wrk`` measured: latencies in milliseconds, throughput in requests per second."""

    target: str
    requests: int
    errors: int
    rps: float
    median_ms: float
    p90_ms: float
    p99_ms: float
    server_cpu_us: float | None = None  # CPU time of the server and its children per request (/proc)


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the offer journal's importer), from every thread."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return found


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` so far, all its threads, and that of its live
    children (the offer journal's importer; None off Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(child) or 0.0 for child in _children(pid))


def measured(
    server: Server, target: str, url: str, script: Path, duration: int, connections: int
) -> LoadResult:
    """:func:`run_wrk` against ``server``, with the server's CPU time per request."""
    before = process_cpu_seconds(server.process.pid)
    result = run_wrk(target, url, script, duration, connections)
    after = process_cpu_seconds(server.process.pid)
    if before is None or after is None or not result.requests:
        return result
    return dataclasses.replace(result, server_cpu_us=(after - before) / result.requests * 1e6)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise BenchmarkError(f"cannot read the latency {text!r} in wrk's output")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(target: str, output: str) -> LoadResult:
    """Median, p90, p99 (``--latency``), requests, errors and requests/s from ``wrk``'s report."""
    quantiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, flags=re.MULTILINE))
    requests = re.search(r"^\s+(\d+) requests in", output, flags=re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, flags=re.MULTILINE)
    if len(quantiles) != 3 or requests is None or rps is None:
        raise BenchmarkError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors is not None:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(
        target=target,
        requests=int(requests.group(1)),
        errors=errors,
        rps=float(rps.group(1)),
        median_ms=_ms(quantiles["50"]),
        p90_ms=_ms(quantiles["90"]),
        p99_ms=_ms(quantiles["99"]),
    )


def _lua_string(text: str) -> str:
    level = "=" * 4
    if f"]{level}]" in text:
        raise BenchmarkError("a request body contains the Lua string terminator")
    return f"[{level}[{text}]{level}]"


#: ``wrk``'s ``delay()`` hook pacing the requests of its thread to ``RATE`` per second: each request is
#: sent at its slot of a fixed schedule (or at once, when late: a slot missed is not made up), through
#: LuaJIT's FFI for a monotonic clock in milliseconds
_PACING = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } pp_timespec;
int clock_gettime(int clk_id, pp_timespec *tp);
]]
local clock = ffi.new("pp_timespec")
local next_at = nil
delay = function()
  ffi.C.clock_gettime(1, clock)
  local now = tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
  if next_at == nil or next_at < now then next_at = now end
  next_at = next_at + 1000 / RATE
  return next_at - now
end
"""


def wrk_script(path: Path, bodies: Sequence[str], headers: Mapping[str, str], rate: float = 0.0) -> Path:
    """A ``wrk`` Lua script POSTing ``bodies`` in turn with ``headers``; written to ``path``. With
    ``rate`` > 0 the requests are paced to that many per second in all (one ``wrk`` thread), each
    connection waiting for its answer before its next request as before; 0: as fast as answered."""
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    lines.append("local bodies = {")
    lines += [f"  {_lua_string(b)}," for b in bodies]
    lines += [
        "}",
        "local i = 0",
        "request = function()",
        "  i = i % #bodies + 1",
        "  return wrk.format(nil, nil, nil, bodies[i])",
        "end",
    ]
    if rate > 0:
        lines.append(_PACING.replace("RATE", repr(float(rate))))
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(
    target: str, url: str, script: Path, duration: int, connections: int, threads: int = 1
) -> LoadResult:
    """``wrk -t threads -c connections -d duration --latency -s script url``, parsed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchmarkError("wrk is not on PATH (apt-get install wrk)")
    argv = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--latency",
        "-s",
        str(script),
    ]
    done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=duration + 60, check=False)
    if done.returncode != 0 or done.stderr.strip():  # a broken Lua script only prints to stderr
        raise BenchmarkError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(target, done.stdout)


# ---------------------------------------------------------------------------------------------- the store


def prepare_store(db_url: str, seed: int = 0, warm: int = 5_000) -> tuple[str, tuple[str, ...]]:
    """Register and promote, as ``default@1``, a ``logistic_ts`` policy fitted on ``warm`` simulated
    visits, and create an API key with every scope; return the key and the policy's feature names."""
    import pricepilot as pp
    from pricepilot.guardrails import Guardrails
    from pricepilot.service import Settings, build_artifact, create_key
    from pricepilot.store import PolicyRegistry, make_engine, upgrade

    market = pp.market.make("ecommerce", seed=seed)
    policy = pp.policies.make("logistic_ts", ladder=market.ladder, seed=seed)
    rails = Guardrails(Settings().guardrails)
    names: tuple[str, ...] = ()
    for _ in range(max(1, warm // 1_000)):
        batch = market.observe(1_000)
        seen = rails.strip_protected(batch.context)  # the service never shows the policy protected ones
        names = seen.feature_names
        outcome = market.step(batch, policy.act(seen))
        policy.update(dataclasses.replace(outcome, contexts=seen))
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        registry = PolicyRegistry(engine)
        version = registry.register("default", build_artifact(policy, names))
        registry.promote("default", version.version)
        token = create_key(engine, ["admin"], label="benchmark")
    finally:
        engine.dispose()
    return token, names


def offer_bodies(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` offer requests of ``CANDIDATES`` candidates each, from the simulator's visitors and items
    (visitor features, protected ones included, on the visitor; item and market features per item)."""
    import pricepilot as pp

    market = pp.market.make("ecommerce", seed=seed)
    bodies = []
    for v in range(n):
        batch = market.observe(CANDIDATES, visitors=np.full(CANDIDATES, v, dtype=np.int64))
        ctx = batch.context
        names = ctx.feature_names
        row0 = ctx.features[0]
        visitor = {k: float(x) for k, x in zip(names, row0, strict=True) if k.startswith("visitor_")}
        page = {k: float(x) for k, x in zip(names, row0, strict=True) if k.startswith("market_")}
        candidates = [
            {
                "item_id": int(ctx.item_ids[i]),
                "list_price": float(ctx.list_prices[i]),
                "unit_cost": float(ctx.unit_costs[i]),
                "features": {
                    k: float(x) for k, x in zip(names, ctx.features[i], strict=True) if k.startswith("item_")
                },
            }
            for i in range(CANDIDATES)
        ]
        bodies.append(
            {
                "visitor": {"id": 1_000 + v, "features": visitor, "opted_out": v % 20 == 0},
                "context": {"page": "product", "features": page},
                "candidates": candidates,
            }
        )
    return bodies


def count_offers(db_url: str) -> int:
    """Offers in the audit log."""
    from pricepilot.store import OfferLog, make_engine

    engine = make_engine(db_url)
    try:
        return OfferLog(engine).count()[0]
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------- run


def _table(rows: Sequence[LoadResult]) -> str:
    head = f"{'target':<16} {'requests':>9} {'errors':>6} {'req/s':>9} {'median ms':>10} "
    head += f"{'p90 ms':>8} {'p99 ms':>8} {'server CPU us/req':>18}"
    lines = [head, "-" * len(head)]
    lines += [
        f"{r.target:<16} {r.requests:>9} {r.errors:>6} {r.rps:>9.0f} {r.median_ms:>10.2f} "
        f"{r.p90_ms:>8.2f} {r.p99_ms:>8.2f} {r.server_cpu_us or float('nan'):>18.0f}"
        for r in rows
    ]
    return "\n".join(lines)


def run(duration: int, connections: int, seed: int = 0, rate: float = 0.0) -> dict[str, Any]:
    """Measure the empty route, then ``/v1/offers`` (each paced to ``rate`` requests/s when > 0);
    return the JSON record."""
    workdir = Path(tempfile.mkdtemp(prefix="pricepilot-load-"))
    try:
        db_url = f"sqlite:///{workdir / 'service.db'}"
        token, _names = prepare_store(db_url, seed=seed)
        bodies = [json.dumps(b, separators=(",", ":")) for b in offer_bodies(BODIES, seed=seed + 1)]
        auth = {"Authorization": f"Bearer {token}"}
        offers_script = wrk_script(workdir / "offers.lua", bodies, auth, rate=rate)
        results = []
        with serve("service_load:baseline_app", workdir, ready_path="/docs") as base:
            post(base.url + "/empty", json.loads(bodies[0]))
            run_wrk("empty route", base.url + "/empty", offers_script, 2, connections)  # warm up
            results.append(
                measured(base, "empty route", base.url + "/empty", offers_script, duration, connections)
            )
        env = {"PRICEPILOT_DB_URL": db_url, "PRICEPILOT_POLICY_NAME": "default"}
        with serve("pricepilot.service.app:create_app", workdir, env=env) as service:
            answer = post(service.url + "/v1/offers", json.loads(bodies[0]), auth)
            if len(answer["offers"]) != CANDIDATES:
                raise BenchmarkError(f"expected {CANDIDATES} offers, got {answer}")
            warm = run_wrk("/v1/offers", service.url + "/v1/offers", offers_script, 2, connections)
            result = measured(
                service, "/v1/offers", service.url + "/v1/offers", offers_script, duration, connections
            )
            results.append(result)
        logged = count_offers(db_url)  # after a graceful shutdown: nothing may be missing
        served = (1 + warm.requests - warm.errors + result.requests - result.errors) * CANDIDATES
        bad = [r for r in results if r.errors]
        if bad:
            raise BenchmarkError(f"failed requests: {bad}")
        # wrk counts only answers it read: requests still in flight at the end were served, not counted
        if logged < served or logged > served + 2 * connections * CANDIDATES:
            raise BenchmarkError(f"{served} offers answered (wrk's count) but {logged} in the audit log")
        return {
            "benchmark": "service_load",
            "date": dt.date.today().isoformat(),
            "command": " ".join(sys.argv),
            "duration_s": duration,
            "connections": connections,
            "offered_rate": rate or None,
            "candidates_per_request": CANDIDATES,
            "uvicorn": " ".join(UVICORN_STACK),
            "store": "sqlite (temporary file)",
            "policy": "logistic_ts",
            "offers_logged": logged,
            "results": [asdict(r) for r in results],
            "rps_ratio_to_empty": results[1].rps / results[0].rps,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def write_record(path: Path | None, record: Mapping[str, Any]) -> None:
    """Write a benchmark's JSON record to ``path`` (its folder made when missing); nothing when None."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per target")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the JSON record here")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pace the requests to this many per second in all (0: as fast as answered, the default)",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1:
        parser.error(f"--duration and --connections must be >= 1, got {args.duration}, {args.connections}")
    if not 0 <= args.rate < float("inf"):
        parser.error(f"--rate must be a finite number >= 0, got {args.rate}")
    try:
        record = run(args.duration, args.connections, args.seed, args.rate)
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(_table([LoadResult(**r) for r in record["results"]]))
    print(f"/v1/offers throughput is {record['rps_ratio_to_empty']:.2f} x the empty route's")
    write_record(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
