"""``create_app(settings)``: the FastAPI app on a store, with its live policy, auth and metrics."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import perf_counter
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pricepilot.service.auth import ensure_tables
from pricepilot.service.batching import Batcher
from pricepilot.service.candidates import CandidateSource
from pricepilot.service.deps import Services
from pricepilot.service.errors import FieldError
from pricepilot.service.fastpath import document_models
from pricepilot.service.hotpath import PATH, HotOffers
from pricepilot.service.metrics import Metrics
from pricepilot.service.routers import events, health, items, offers, policies
from pricepilot.service.schemas import EventsRequest, OfferRequest
from pricepilot.service.settings import Settings, load_settings
from pricepilot.service.state import LiveState, NotReadyError
from pricepilot.store import OfferLog, StoreError, make_engine, upgrade
from pricepilot.store.journal import OfferJournal, journal_location, recover


class _TooLargeError(Exception):
    pass


class Guard:
    """ASGI middleware: refuses bodies over ``max_bytes`` with 413 (by Content-Length, or while
    reading a streamed body) and records each request's latency by route template."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        code = 500
        over = False  # the streamed body passed the limit: whatever the app answers becomes a 413
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal code, replaced
            if over:
                if not replaced:
                    replaced = True
                    await self._too_large(send_counted)
                return
            await send_counted(message)

        async def send_counted(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                await self._too_large(send_counted)
                return
            seen = 0

            async def receive_limited() -> Message:
                nonlocal seen, over
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_bytes:
                        over = True
                        raise _TooLargeError(f"request body over {self.max_bytes} bytes")
                return message

            try:
                await self.app(scope, receive_limited, send_wrapper)
            except _TooLargeError:
                if not replaced:
                    await self._too_large(send_counted)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(path, scope["method"], str(code)).observe(perf_counter() - start)

    async def _too_large(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over the limit of {self.max_bytes} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


class Service(FastAPI):
    """The FastAPI app, with ``POST /v1/offers`` tried on its short path first
    (:class:`pricepilot.service.hotpath.HotOffers`, which hands every request it does not answer to
    the framework's route). ``hot`` None: every request goes through the framework."""

    hot: HotOffers | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.hot
        if (
            hot is not None
            and scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
        ):
            await hot(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app without its short path: the framework's middleware and routes."""
        await super().__call__(scope, receive, send)


_frozen = threading.Event()


def _freeze_startup_objects() -> None:
    """Move every object alive after the first app's start (modules, the policy, the schemas) out of
    the garbage collector's reach, once per process: a full collection then scans only what requests
    allocate (it scanned them all before, a pause of tens of milliseconds at the offers' p99)."""
    if not _frozen.is_set():
        _frozen.set()
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None) -> Service:
    """The service on the store at ``settings.db_url`` (migrated on start), serving the active version
    of ``settings.policy_name`` resumed from its latest snapshot. Settings default to
    :func:`load_settings` (environment variables)."""
    cfg = settings if settings is not None else load_settings()
    engine = make_engine(cfg.db_url)
    upgrade(engine)
    ensure_tables(engine)
    state = LiveState(engine, cfg)
    state.reload()
    metrics = Metrics()
    candidates = CandidateSource(engine, max_k=cfg.max_candidates)
    journal = None
    where = journal_location(cfg.db_url) if cfg.journal_offers else None
    if where is not None:
        database, directory = where
        recover(database, directory)  # the offers of workers that were killed
        journal = OfferJournal(database, directory)
        watched = journal
        metrics.watch_journal(lambda: watched.lag_bytes, lambda: watched.importer_starts)
    batcher = Batcher(state, cfg, OfferLog(engine), metrics, journal)
    services = Services(cfg, engine, state, metrics, candidates, batcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start_sync()  # workers sharing learning sync with the store on a timer
        _freeze_startup_objects()
        yield
        state.stop_sync()
        if journal is not None:
            journal.close()  # every answered offer into the store before the server stops
        state.snapshot()
        engine.dispose()

    app = Service(
        title="PricePilot",
        version="0.1.0",
        summary="Personalised prices inside guardrails, learned online from outcomes.",
        lifespan=lifespan,
    )
    app.state.services = services
    for router in (offers.router, events.router, policies.router, items.router, health.router):
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        # only location, message and type: the offending input may not be JSON (NaN, huge strings)
        detail = [{"loc": list(e["loc"]), "msg": str(e["msg"]), "type": str(e["type"])} for e in err.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(FieldError)
    async def field_error(_request: Request, err: FieldError) -> JSONResponse:
        return JSONResponse({"detail": err.detail()}, status_code=422)

    @app.exception_handler(NotReadyError)
    async def not_ready(_request: Request, err: NotReadyError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, err: StoreError) -> JSONResponse:
        detail: Any = str(err)
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_middleware(Guard, max_bytes=cfg.max_body_bytes, metrics=metrics)
    document_models(app, [OfferRequest, EventsRequest])  # the bodies the fast routes read themselves
    app.hot = HotOffers(services, app.framework)
    return app
