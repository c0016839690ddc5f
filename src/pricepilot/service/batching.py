"""Offer requests on the event loop: priced together per turn of the loop, logged once per group.

The requests that reach the pricing step in one turn of the event loop are decided together
(:func:`pricepilot.service.pricing.price_many`: one pass through the policy and the guardrails for all
their candidates) at the end of that turn, or, when the server is busy (it priced within the last
:data:`BUSY_SECONDS`), at the end of a short window (:data:`WINDOW_SECONDS`) that lets the requests
arriving meanwhile join them: inline when the live policy's lock is free, else on a worker thread (a
snapshot or an update holds it), so the loop never waits for it. Their offers are logged as one
batch, and every request of the group is answered once that batch is durable: an answered offer is
always in the audit log. On an SQLite file the batch is appended to this worker's offer journal
(:class:`pricepilot.store.journal.OfferJournal`: one ``write``, imported into the store by another
process) and the group is answered at once; elsewhere (PostgreSQL) it is handed to the offer log's
writer thread (:meth:`pricepilot.store.OfferLog.submit_batch`) and answered once committed, the loop
never blocking on the commit. A request's pricing error is raised to it alone (nothing was recorded
for it); a failed append or commit is a :class:`LogError` to each request of the group (priced and
recorded in the price history, so not to be priced again).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool

from pricepilot.service.metrics import Metrics
from pricepilot.service.pricing import Priced, PricedGroup, check_size, count_served, describe, price_many
from pricepilot.service.schemas import OfferRequest
from pricepilot.service.settings import Settings
from pricepilot.service.state import LiveState
from pricepilot.store import OfferLog
from pricepilot.store.journal import JournalError, OfferJournal
from pricepilot.store.offer_writer import sqlite_documents

_Pending = list[tuple[OfferRequest, "asyncio.Future[Priced]"]]

#: a request that finds the server busy (it priced offers within this many seconds) waits up to
#: :data:`WINDOW_SECONDS` for others to be priced with; on an idle server it is priced at once. A
#: group's pricing costs mostly per call, not per row (numpy's overhead on small arrays): requests
#: arriving one by one, as independent visitors do, would each pay it whole
BUSY_SECONDS = 0.002
WINDOW_SECONDS = 0.001
#: requests waiting in a window that are priced at once, without waiting for its end
MAX_WAITING = 64


class LogError(RuntimeError):
    """Offers were priced but their commit to the audit log failed: nothing is answered for them."""


class Batcher:
    """Prices the offer requests of one turn of the loop together and logs each group once.

    Parameters
    ----------
    state : LiveState, the live policy (its lock is taken while pricing).
    settings : Settings, the objective, ranking and limits.
    log : OfferLog, where the offers are committed before they are answered (without a journal).
    metrics : Metrics, counts the offers (and the guardrails' interventions) once durable.
    journal : OfferJournal or None, where the offers are appended before they are answered, when
        the store is an SQLite file (None: committed to ``log`` first).
    """

    def __init__(
        self,
        state: LiveState,
        settings: Settings,
        log: OfferLog,
        metrics: Metrics,
        journal: OfferJournal | None = None,
    ) -> None:
        self.state = state
        self.settings = settings
        self.log = log
        self.metrics = metrics
        self.journal = journal
        self._pending: _Pending = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushed_at = -float("inf")  # loop time of the last pricing

    async def price(self, request: OfferRequest) -> Priced:
        """``request``'s offers, priced with the others of this turn, once they are in the log.

        Raises
        ------
        LogError
            When the offers were priced but their commit failed (the request must not be priced
            again: the price history has recorded them).
        Exception
            What pricing the request raised (nothing was recorded then): a :class:`FieldError`, a
            :class:`pricepilot.service.state.NotReadyError` ...
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Priced] = loop.create_future()
        pending = self._pending
        if not pending:
            if loop.time() - self._flushed_at <= BUSY_SECONDS:  # busy: wait for company
                self._timer = loop.call_later(WINDOW_SECONDS, self._flush)
            else:
                loop.call_soon(self._flush)
        pending.append((request, future))
        if len(pending) == MAX_WAITING and self._timer is not None:  # enough company: price now
            self._timer.cancel()
            self._timer = None
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        self._flushed_at = asyncio.get_running_loop().time()
        requests = [request for request, _ in pending]
        if self.state.lock.acquire(blocking=False):
            try:
                results = self._run(requests)
            finally:
                self.state.lock.release()
            self._settle(pending, results)
            return
        task = asyncio.ensure_future(run_in_threadpool(self._run_locked, requests))
        task.add_done_callback(lambda done: self._settle(pending, _outcome(done, len(pending))))

    def _run(self, requests: list[OfferRequest]) -> list[Priced | Exception]:
        try:
            return price_many(requests, self.state, self.settings)
        except Exception as err:  # no policy live, say: every request is told
            return [err] * len(requests)

    def _run_locked(self, requests: list[OfferRequest]) -> list[Priced | Exception]:
        with self.state.lock:
            return self._run(requests)

    def _settle(self, pending: _Pending, results: list[Priced | Exception]) -> None:
        """Tell the requests that failed to price; hand each priced group to the log's writer, its
        requests answered once it is committed."""
        groups: dict[int, list[tuple[asyncio.Future[Priced], Priced]]] = {}
        for (_, future), result in zip(pending, results, strict=True):
            if isinstance(result, Exception):
                if not future.done():  # done: the client went away
                    future.set_exception(result)
            else:
                groups.setdefault(id(result.group), []).append((future, result))
        journal = self.journal
        for members in groups.values():
            group = members[0][1].group
            if journal is not None:
                try:
                    journal.append(sqlite_documents(group.batch))
                except JournalError as err:
                    self._answer(group, members, err)
                else:
                    self._answer(group, members, None)
                continue
            committed = asyncio.wrap_future(self.log.submit_batch(group.batch))
            committed.add_done_callback(partial(self._committed, group, members))

    def _committed(
        self,
        group: PricedGroup,
        members: list[tuple[asyncio.Future[Priced], Priced]],
        committed: asyncio.Future[int],
    ) -> None:
        error = RuntimeError("the server stopped") if committed.cancelled() else committed.exception()
        self._answer(group, members, error)

    def _answer(
        self,
        group: PricedGroup,
        members: list[tuple[asyncio.Future[Priced], Priced]],
        error: BaseException | None,
    ) -> None:
        """Once ``group``'s offers are durable (or logging them failed with ``error``), answer its
        requests."""
        if error is None:
            count_served(group, self.metrics)
        for future, priced in members:
            if future.done():  # the client went away
                continue
            if error is None:
                future.set_result(priced)
            else:
                failed = LogError(f"the offers were priced but not logged: {error}")
                failed.__cause__ = error
                future.set_exception(failed)


def _outcome(done: asyncio.Future[list[Priced | Exception]], n: int) -> list[Priced | Exception]:
    """What a finished worker-thread pricing gave, or its failure for each of its ``n`` requests."""
    if done.cancelled():
        return [RuntimeError("pricing was cancelled (the server is stopping)")] * n
    error = done.exception()
    if error is not None:
        return [error if isinstance(error, Exception) else RuntimeError(str(error))] * n
    return done.result()


async def serve_offers_async(request: OfferRequest, batcher: Batcher) -> dict[str, list[dict[str, Any]]]:
    """:func:`pricepilot.service.pricing.serve_offers` on an event loop, through the app's ``batcher``:
    the answer's body (``OfferResponse``'s fields) once the offers are committed (see the module's
    docstring)."""
    check_size(request, batcher.settings)
    return {"offers": describe(await batcher.price(request))}
