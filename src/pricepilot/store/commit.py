"""Group commit: concurrent writers of one engine share transactions, and each still waits for its own.

A server thread that must not answer before its rows are durable (the offer audit log) hands them to
:meth:`GroupCommit.write`. The first caller to find no write in progress becomes the *leader*: it
takes every batch queued so far, its own first, writes them in one transaction, commits, and wakes
their callers; when more batches arrived meanwhile, it hands leadership to the oldest waiting caller
and returns. Under load a commit (and its fsync on PostgreSQL) is shared by every request that
arrived while the previous one ran; alone, a caller writes its batch itself with no thread switch.

The durability contract is unchanged by grouping: :meth:`GroupCommit.write` returns only after the
transaction holding the caller's batch has committed, so nothing acknowledged can be lost, and nothing
is ever pending at shutdown. When a shared transaction fails (a bad row, say), every batch of the group
is retried in a transaction of its own, so one caller's error is raised to that caller alone.

An event loop must not block on a commit: it hands its batch to :meth:`GroupCommit.submit` instead,
which queues it for the group's writer thread (started on demand, ended after
:data:`WRITER_IDLE_SECONDS` without work) and returns a future resolved once the batch's transaction has
committed (``await asyncio.wrap_future(...)``). The writer takes every batch queued while it wrote the
previous group, so under load a commit is shared by the requests that arrived during the last one.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

#: seconds the writer thread of :meth:`GroupCommit.submit` waits for work before it ends
WRITER_IDLE_SECONDS = 2.0

#: writes every batch of a group inside the caller's transaction; returns one count per batch
WriteMany = Callable[[Connection, Sequence[T]], list[int]]


@dataclass(eq=False)
class _Ticket(Generic[T]):
    batch: T
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: int = 0
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Writes batches of type ``T`` to ``engine`` through ``write_many``, grouping concurrent callers.

    Parameters
    ----------
    engine : Engine, the store.
    write_many : callable ``(connection, batches) -> counts``; writes the batches inside the open
        transaction of ``connection`` and returns, per batch, how many rows it stored.
    max_group : int >= 1, most batches in one transaction.
    """

    def __init__(self, engine: Engine, write_many: WriteMany[T], max_group: int = 256) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be >= 1, got {max_group}")
        self.engine = engine
        self.write_many = write_many
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Ticket[T]] = []
        self._busy = False
        self._submitted: list[tuple[_Ticket[T], Future[int]]] = []
        self._wake = threading.Condition(threading.Lock())
        self._writer: threading.Thread | None = None

    def submit(self, batch: T) -> Future[int]:
        """Queue ``batch`` for the writer thread; the future gives what ``write_many`` counted for it
        once its transaction has committed (or the error writing it on its own raised). Never blocks."""
        future: Future[int] = Future()
        with self._wake:
            self._submitted.append((_Ticket(batch), future))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="pp-commit", daemon=True)
                self._writer.start()
            else:
                self._wake.notify()
        return future

    def _write_loop(self) -> None:
        """The writer thread: write what was submitted, group by group, until idle for a while."""
        while True:
            with self._wake:
                if not self._submitted:
                    self._wake.wait(WRITER_IDLE_SECONDS)
                if not self._submitted:
                    self._writer = None
                    return
                group = self._submitted[: self.max_group]
                del self._submitted[: self.max_group]
            tickets = [ticket for ticket, _ in group]
            self._write_group(tickets)  # every error of writing is kept on its ticket
            for ticket, future in group:
                if ticket.error is not None:
                    future.set_exception(ticket.error)
                else:
                    future.set_result(ticket.result)

    def write(self, batch: T) -> int:
        """Write ``batch`` and return, once it is committed, what ``write_many`` counted for it.

        Blocks the calling thread (call it from a worker thread, not an event loop). Raises what
        writing ``batch`` on its own raised.
        """
        ticket: _Ticket[T] = _Ticket(batch)
        with self._lock:
            self._queue.append(ticket)
            leader = not self._busy
            self._busy = True
        if not leader:
            ticket.done.wait()
            if not ticket.lead:
                return self._result(ticket)
        self._lead(ticket)
        return self._result(ticket)

    @staticmethod
    def _result(ticket: _Ticket[T]) -> int:
        if ticket.error is not None:
            raise ticket.error
        return ticket.result

    def _lead(self, own: _Ticket[T]) -> None:
        """Write the queued batches (``own`` is the oldest), then pass the lead on or end it."""
        with self._lock:
            group = self._queue[: self.max_group]
            del self._queue[: self.max_group]
        try:
            self._write_group(group)
        finally:
            for ticket in group:
                if ticket is not own:
                    ticket.done.set()
            with self._lock:
                if self._queue:
                    successor = self._queue[0]  # it writes its own batch first
                    successor.lead = True
                    successor.done.set()
                else:
                    self._busy = False

    def _write_group(self, group: list[_Ticket[T]]) -> None:
        try:
            with self.engine.begin() as conn:
                counts = self.write_many(conn, [t.batch for t in group])
            for ticket, count in zip(group, counts, strict=True):
                ticket.result = count
            return
        except Exception as err:
            if len(group) == 1:
                group[0].error = err
                return
        for ticket in group:  # one bad batch must not fail the others
            try:
                with self.engine.begin() as conn:
                    ticket.result = self.write_many(conn, [ticket.batch])[0]
            except Exception as err:
                ticket.error = err


_GROUPS: weakref.WeakKeyDictionary[Engine, dict[str, GroupCommit[object]]] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def group_commit(engine: Engine, name: str, write_many: WriteMany[T]) -> GroupCommit[T]:
    """The one :class:`GroupCommit` of ``engine`` for the log ``name`` (made on first use, kept while
    the engine lives), so that every writer of that log through this engine shares it."""
    with _GROUPS_LOCK:
        by_name = _GROUPS.setdefault(engine, {})
        found = by_name.get(name)
        if found is None:
            found = GroupCommit(engine, write_many)  # type: ignore[arg-type]
            by_name[name] = found
    return found  # type: ignore[return-value]
