"""HTTP ingestion on ``POST /v1/events``: events per second in batches, into SQLite and PostgreSQL.

Issue 5, point 2: ``/v1/events`` should ingest at least 50,000 events per second in batches, into
SQLite and into PostgreSQL. For each store the script

1. prepares it (a temporary SQLite file, or a database on a private PostgreSQL cluster started with
   ``initdb``/``pg_ctl`` and removed afterwards) with a ``logistic_ts`` policy promoted and an API key;
2. starts the service as ``pricepilot serve`` runs it (one uvicorn worker, uvloop, httptools, no
   access log) and has it serve ``--offers`` offers through ``/v1/offers``;
3. posts batches of ``--batch`` events from ``--connections`` concurrent keep-alive connections for
   ``--duration`` seconds: views and carts with fresh event ids, plus ``--outcome-share`` of events that
   close a served offer (purchases and ``offer_outcome`` events, half each, each offer closed once), so
   the offer join and the online update run as they would in production;
4. checks every answer (status 200, every event new) and, after a graceful shutdown, that the store
   holds exactly the events acknowledged; the table gives each server's CPU time per event as well
   (``/proc/<pid>/stat``; PostgreSQL's own processes are not counted).

The baseline, measured in the same run by the same client, is a bare FastAPI app whose one route
reads the same bodies and answers ``{}`` (the HTTP and client cost alone).

Run: ``python benchmarks/service_ingest.py [--duration 10] [--batch 1000] [--connections 4]
[--stores sqlite,postgresql] [--json PATH]``. Exits non-zero when a server or the cluster fails to
start, a request fails, or the store's count disagrees with what was acknowledged.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime as dt  # noqa: E402
import http.client  # noqa: E402
import itertools  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402

from pricepilot.store.pgcluster import ClusterUnavailableError, private_cluster  # noqa: E402
from service_load import (  # noqa: E402
    UVICORN_STACK,
    BenchmarkError,
    offer_bodies,
    post,
    prepare_store,
    process_cpu_seconds,
    serve,
    write_record,
)


def baseline_app() -> Any:
    """The baseline: a bare FastAPI app whose one route (``POST /empty``) reads the body, answers {}."""
    app = FastAPI()

    @app.post("/empty")
    async def empty(request: Request) -> dict[str, str]:
        await request.body()
        return {}

    return app


# ---------------------------------------------------------------------------------------------- PostgreSQL


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A private, throwaway PostgreSQL cluster (``fsync`` on, as in production); yields its URL."""
    try:
        with private_cluster(fsync=True) as url:
            yield url
    except ClusterUnavailableError as err:
        raise BenchmarkError(str(err)) from err


# ---------------------------------------------------------------------------------------------- traffic


@dataclass(frozen=True)
class IngestResult:
    """One target's figures: events per second, and per-batch latency in milliseconds."""

    target: str
    batches: int
    events: int
    seconds: float
    events_per_s: float
    median_ms: float
    p99_ms: float
    server_cpu_us_per_event: float | None = None  # CPU time of the server process (Linux /proc)


def with_server_cpu(result: IngestResult, before: float | None, after: float | None) -> IngestResult:
    """``result`` with the server's CPU time per event between ``before`` and ``after`` (seconds)."""
    if before is None or after is None or not result.events:
        return result
    return dataclasses.replace(result, server_cpu_us_per_event=(after - before) / result.events * 1e6)


class EventSource:
    """Batches of events with fresh ids; ``outcome_share`` of them close offers from ``offer_ids``."""

    def __init__(self, batch: int, offer_ids: Sequence[str], outcome_share: float, seed: int = 0) -> None:
        self.batch = batch
        self.offers = list(offer_ids)
        self.per_batch = round(batch * outcome_share)
        self.lock = threading.Lock()
        self.rng = np.random.default_rng(seed)
        self.run = uuid.uuid4().hex[:8]
        self.counter = itertools.count()

    def next_body(self) -> tuple[bytes, int]:
        """A request body and the number of events in it."""
        with self.lock:
            k = next(self.counter)
            closing = self.offers[: self.per_batch]
            del self.offers[: self.per_batch]
            visitors = self.rng.integers(0, 100_000, self.batch).tolist()
            items = self.rng.integers(0, 500, self.batch).tolist()
        now = dt.datetime.now(dt.UTC).isoformat()
        events: list[dict[str, Any]] = []
        for j, oid in enumerate(closing):
            ev: dict[str, Any] = {"event_id": f"{self.run}-{k}-o{j}", "occurred_at": now, "offer_id": oid}
            if j % 2:
                ev |= {"kind": "purchase", "units": 1}
            else:
                ev |= {"kind": "offer_outcome", "payload": {"purchased": False}}
            events.append(ev)
        for j in range(self.batch - len(events)):
            events.append(
                {
                    "event_id": f"{self.run}-{k}-{j}",
                    "kind": "view" if j % 5 else "cart",
                    "occurred_at": now,
                    "visitor_id": visitors[j],
                    "item_id": items[j],
                    "payload": {"page": "product", "position": j % 10},
                }
            )
        return orjson.dumps({"events": events}), len(events)


def drive(
    target: str, url: str, path: str, source: EventSource, duration: float, connections: int, token: str
) -> IngestResult:
    """Post batches from ``connections`` threads for ``duration`` seconds; check every answer."""
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    counts: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + duration

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
        try:
            while time.perf_counter() < deadline and not errors:
                body, n = source.next_body()
                sent = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                took = time.perf_counter() - sent
                if answer.status != 200:
                    raise BenchmarkError(f"{target}: POST {path} answered {answer.status}: {data[:500]!r}")
                if path != "/empty" and orjson.loads(data)["stored"] != n:
                    raise BenchmarkError(f"{target}: {n} new events sent, the answer says {data[:300]!r}")
                with lock:
                    latencies.append(took)
                    counts.append(n)
        except (BenchmarkError, OSError, http.client.HTTPException) as err:
            with lock:
                errors.append(str(err))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise BenchmarkError(errors[0])
    if not latencies:
        raise BenchmarkError(f"{target}: no batch completed in {duration} s")
    ms = np.array(latencies) * 1e3
    return IngestResult(
        target=target,
        batches=len(latencies),
        events=sum(counts),
        seconds=seconds,
        events_per_s=sum(counts) / seconds,
        median_ms=float(np.median(ms)),
        p99_ms=float(np.percentile(ms, 99)),
    )


def serve_offers(url: str, token: str, n_offers: int, seed: int) -> list[str]:
    """Offer ids of ``n_offers`` offers served by the running service (10 per request)."""
    ids: list[str] = []
    bodies = offer_bodies(max(1, n_offers // 10), seed=seed)
    for body in bodies:
        answer = post(url + "/v1/offers", body, {"Authorization": f"Bearer {token}"})
        ids += [o["offer_id"] for o in answer["offers"]]
    return ids[:n_offers]


def count_events(db_url: str) -> int:
    """Events in the store."""
    from pricepilot.store import EventStore, make_engine

    engine = make_engine(db_url)
    try:
        return EventStore(engine).count()
    finally:
        engine.dispose()


def measure_store(
    store: str, db_url: str, workdir: Path, args: argparse.Namespace, baseline: IngestResult | None
) -> IngestResult:
    """Ingest into the service on ``db_url`` and check the store afterwards."""
    token, _ = prepare_store(db_url, seed=args.seed)
    before = count_events(db_url)
    env = {"PRICEPILOT_DB_URL": db_url, "PRICEPILOT_POLICY_NAME": "default"}
    with serve("pricepilot.service.app:create_app", workdir, env=env) as service:
        offer_ids = serve_offers(service.url, token, args.offers, args.seed + 1)
        warm = EventSource(args.batch, [], 0.0, seed=args.seed + 2)
        drive(f"{store} (warm-up)", service.url, "/v1/events", warm, 1.0, 1, token)
        warmed = count_events(db_url) - before
        source = EventSource(args.batch, offer_ids, args.outcome_share, seed=args.seed + 3)
        before_cpu = process_cpu_seconds(service.process.pid)
        result = drive(
            f"/v1/events {store}", service.url, "/v1/events", source, args.duration, args.connections, token
        )
        result = with_server_cpu(result, before_cpu, process_cpu_seconds(service.process.pid))
    stored = count_events(db_url) - before - warmed
    if stored != result.events:
        raise BenchmarkError(f"{store}: {result.events} events acknowledged but {stored} stored")
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Baseline, then each store; returns the JSON record."""
    workdir = Path(tempfile.mkdtemp(prefix="pricepilot-ingest-"))
    results: list[IngestResult] = []
    try:
        with serve("service_ingest:baseline_app", workdir, ready_path="/docs") as base:
            source = EventSource(args.batch, [], 0.0, seed=args.seed)
            drive("empty route", base.url, "/empty", source, 1.0, 1, "")
            before_cpu = process_cpu_seconds(base.process.pid)
            baseline = drive("empty route", base.url, "/empty", source, args.duration, args.connections, "")
            baseline = with_server_cpu(baseline, before_cpu, process_cpu_seconds(base.process.pid))
        results.append(baseline)
        for store in args.stores:
            if store == "sqlite":
                results.append(
                    measure_store(store, f"sqlite:///{workdir / 'events.db'}", workdir, args, baseline)
                )
            else:
                with postgres_cluster() as pg_url:
                    results.append(measure_store(store, pg_url, workdir, args, baseline))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "benchmark": "service_ingest",
        "date": dt.date.today().isoformat(),
        "command": " ".join(sys.argv),
        "duration_s": args.duration,
        "batch": args.batch,
        "connections": args.connections,
        "outcome_share": args.outcome_share,
        "uvicorn": " ".join(UVICORN_STACK),
        "results": [asdict(r) for r in results],
    }


def _table(rows: Sequence[IngestResult]) -> str:
    head = f"{'target':<22} {'batches':>8} {'events':>9} {'events/s':>10} {'median ms':>10} {'p99 ms':>8}"
    head += f" {'server CPU us/event':>20}"
    lines = [head, "-" * len(head)]
    lines += [
        f"{r.target:<22} {r.batches:>8} {r.events:>9} {r.events_per_s:>10.0f} "
        f"{r.median_ms:>10.1f} {r.p99_ms:>8.1f} {r.server_cpu_us_per_event or float('nan'):>20.1f}"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per target")
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--outcome-share", type=float, default=0.02, help="share of events closing an offer")
    parser.add_argument("--offers", type=int, default=2000, help="offers served first, for the outcomes")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the JSON record here")
    args = parser.parse_args(argv)
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not set(args.stores) <= {"sqlite", "postgresql"} or not args.stores:
        parser.error(f"--stores takes sqlite and/or postgresql, got {args.stores}")
    if args.duration <= 0 or args.batch < 1 or args.connections < 1 or not 0 <= args.outcome_share <= 1:
        parser.error("need --duration > 0, --batch >= 1, --connections >= 1 and 0 <= --outcome-share <= 1")
    try:
        record = run(args)
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(_table([IngestResult(**r) for r in record["results"]]))
    write_record(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
