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

Checkpoints (SQLite): in WAL mode a commit appends to the ``-wal`` file, and by default the commit
that takes it past 1000 pages also copies it back into the database and fsyncs (an automatic
checkpoint): that commit takes tens of milliseconds instead of half of one, and every request waiting
for it waits too. Group commit therefore writes with the automatic checkpoint off (``PRAGMA
wal_autocheckpoint=0`` on the connection it writes with; the writer thread keeps one for its life,
a blocking :meth:`GroupCommit.write` switches it off for its transaction only, and both restore the
engine's setting before a connection goes back to the pool), and a checkpointer thread of its own
runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection, off the commit path, every
:data:`CHECKPOINT_SECONDS` while commits arrive (sooner after :data:`CHECKPOINT_ROWS` new rows); it
ends after :data:`WRITER_IDLE_SECONDS` without commits. A passive checkpoint never blocks a writer
or a reader, but SQLite starts the ``-wal`` file over only when a transaction begins with the whole
log copied, which a writer that commits every few milliseconds never allows. So each checkpoint
copies the bulk while the group goes on committing, then what was committed meanwhile, and once the
log holds more than :data:`REWIND_PAGES` it copies the last few pages with the group's next
transaction held back (:class:`_Gate`: one to a few milliseconds, the copy and its fsync), and that
transaction rewinds the log. The file thus stays bounded by about :data:`REWIND_PAGES`, and a busy
writer is held back once per that many pages, not at every checkpoint. Durability is unchanged: a
commit in WAL mode with ``synchronous=NORMAL`` survives the process being killed whether or not it
has been checkpointed. Other connections of the engine keep SQLite's defaults.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

#: seconds the writer thread of :meth:`GroupCommit.submit` waits for work before it ends
WRITER_IDLE_SECONDS = 2.0

#: seconds between two checkpoints of an SQLite write-ahead log while group commit writes
CHECKPOINT_SECONDS = 1.0

#: rows committed (as counted by ``write_many``) after which the checkpointer runs without waiting
#: for :data:`CHECKPOINT_SECONDS` (about 5000 pages of offers)
CHECKPOINT_ROWS = 20_000

#: pages in the log (16,384: 64 MiB of 4 KiB pages) above which a checkpoint holds the group's
#: writes back for its last step, so that the log starts over; below it, the log starts over at the
#: first transaction that finds it wholly copied (a pause in the writes), and no write waits
REWIND_PAGES = 16_384

#: a checkpoint copies the pages committed during its previous pass again (at most this many more
#: passes) until a pass finds at most :data:`_LAST_PASS_PAGES` new ones; it copies those last with
#: the group's writes held back
_CATCH_UP_PASSES = 4
_LAST_PASS_PAGES = 64

#: writes every batch of a group inside the caller's transaction; returns one count per batch
WriteMany = Callable[[Connection, Sequence[T]], list[int]]


@dataclass(eq=False)
class _Ticket(Generic[T]):
    batch: T
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: int = 0
    error: BaseException | None = None


def _driver(conn: Connection) -> Any:
    """The DBAPI connection under ``conn`` (statements on it bypass SQLAlchemy's transaction state)."""
    return conn.connection.driver_connection


class _Gate:
    """Keeps the checkpointer's last step apart from group commit's transactions, fairly: once the
    checkpointer asks, the next transaction waits for it (with a plain lock, a writer that always
    has work would take it again at once and starve the checkpointer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turn = threading.Lock()  # held by the checkpointer while it waits for, and holds, the lock

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Held around a transaction of group commit."""
        with self._turn:  # waits while the checkpointer has asked
            pass
        with self._lock:
            yield

    @contextlib.contextmanager
    def checkpoint(self) -> Iterator[None]:
        """Held around the checkpointer's last step."""
        with self._turn, self._lock:
            yield


class _Checkpointer:
    """Checkpoints an SQLite write-ahead log off the commit path, on a daemon thread of its own.

    The thread starts with the first :meth:`committed` call, runs ``PRAGMA wal_checkpoint(PASSIVE)``
    every :data:`CHECKPOINT_SECONDS` (or as soon as :data:`CHECKPOINT_ROWS` rows were committed)
    while commits arrive, and ends :data:`WRITER_IDLE_SECONDS` after the last one.
    """

    def __init__(self, engine: Engine, gate: _Gate) -> None:
        self.engine = engine
        self.gate = gate
        self.checkpoints = 0  # how many checkpoints ran (for tests and benchmarks)
        self.restarts = 0  # how many left the log wholly copied, so that the next commit rewinds it
        self.gated = 0  # how many held the group's writes back for their last step
        self._wake = threading.Condition(threading.Lock())
        self._rows = 0  # rows committed since the last checkpoint
        self._commits = 0  # commits since the last checkpoint
        self._thread: threading.Thread | None = None

    def committed(self, rows: int) -> None:
        """Note a commit of ``rows`` new rows; starts the thread when none runs."""
        with self._wake:
            self._commits += 1
            self._rows += rows
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pp-checkpoint", daemon=True)
                self._thread.start()
            elif self._rows >= CHECKPOINT_ROWS:
                self._wake.notify()

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                self._loop(_driver(conn))
        finally:
            with self._wake:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _loop(self, driver: Any) -> None:
        idle = 0.0
        while True:
            with self._wake:
                if self._rows < CHECKPOINT_ROWS:
                    self._wake.wait(CHECKPOINT_SECONDS)
                if self._commits == 0:
                    idle += CHECKPOINT_SECONDS
                    if idle >= WRITER_IDLE_SECONDS:
                        self._thread = None
                        return
                    continue
                idle = 0.0
                self._commits = self._rows = 0
            self._checkpoint(driver)

    def _checkpoint(self, driver: Any) -> None:
        """Copy the log into the database: the bulk, and then what was committed meanwhile, while
        group commit goes on, until a pass finds only a few new pages; when the log has grown past
        :data:`REWIND_PAGES` (the writes never paused long enough for it to start over), copy those
        with the group's next transaction held back, so that it finds the log wholly copied and
        starts it over (SQLite only rewinds the log then)."""
        busy, log, copied = self._passive(driver)
        for _ in range(_CATCH_UP_PASSES):
            before = log
            busy, log, copied = self._passive(driver)
            if log - before <= _LAST_PASS_PAGES:  # few pages committed during the previous pass
                break  # (negative when the log was rewound meanwhile)
        if log > REWIND_PAGES:  # the writes never paused long enough: make the log start over
            self.gated += 1
            with self.gate.checkpoint():
                busy, log, copied = self._passive(driver)
        self.checkpoints += 1
        if not busy and log == copied:
            self.restarts += 1

    @staticmethod
    def _passive(driver: Any) -> tuple[int, int, int]:
        """``PRAGMA wal_checkpoint(PASSIVE)``: (busy, pages in the log, pages copied)."""
        cursor = driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
        try:
            ((busy, log, copied),) = cursor.fetchall()  # all: a statement left open keeps a read lock
        finally:
            cursor.close()
        return int(busy), int(log), int(copied)


@contextlib.contextmanager
def _without_autocheckpoint(conn: Connection) -> Iterator[None]:
    """Switch SQLite's automatic checkpoint off on ``conn`` for the block, then restore it (or, when
    that fails, invalidate the connection, so that the pool never hands it out without it)."""
    driver = _driver(conn)
    (before,) = driver.execute("PRAGMA wal_autocheckpoint").fetchone()
    driver.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield
    finally:
        try:
            driver.execute(f"PRAGMA wal_autocheckpoint={int(before)}")
        except Exception:
            conn.invalidate()


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
        self._gate = _Gate()  # between the group's transactions and a checkpoint's last step
        sqlite = engine.dialect.name == "sqlite"
        #: the SQLite log's checkpointer (None on PostgreSQL)
        self.checkpointer = _Checkpointer(engine, self._gate) if sqlite else None

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
        """The writer thread: write what was submitted, group by group, until idle for a while, on
        one connection kept for its life (with SQLite's automatic checkpoint off)."""
        try:
            with self._connection() as conn:
                self._write_groups(conn)
        finally:
            with self._wake:
                if self._writer is threading.current_thread():
                    self._writer = None
                    if self._submitted:  # it failed to connect: the next submit starts another
                        self._fail_submitted()

    def _fail_submitted(self) -> None:
        """Resolve what was submitted with an error (the writer thread could not connect)."""
        error = RuntimeError("the group-commit writer ended before writing the batch; submit it again")
        for _, future in self._submitted:
            future.set_exception(error)
        self._submitted.clear()

    def _write_groups(self, conn: Connection) -> None:
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
            self._write_group(tickets, conn)  # every error of writing is kept on its ticket
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
            try:
                with self._connection() as conn:  # its exit never raises
                    self._write_group(group, conn)
            except Exception as err:  # no connection: nothing of the group was written
                for ticket in group:
                    ticket.error = err
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

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection of the engine to write with; on SQLite without the automatic checkpoint (the
        checkpointer does it), restored before it goes back to the pool."""
        with self.engine.connect() as conn:
            if self.checkpointer is None:
                yield conn
            else:
                with _without_autocheckpoint(conn):
                    yield conn

    def _write_group(self, group: list[_Ticket[T]], conn: Connection) -> None:
        """Write ``group`` in one transaction of ``conn``, or each batch in its own when that fails;
        every result and error is kept on its ticket."""
        try:
            with self._gate.transaction(), conn.begin():
                counts = self.write_many(conn, [t.batch for t in group])
            for ticket, count in zip(group, counts, strict=True):
                ticket.result = count
            self._committed(sum(counts))
            return
        except Exception as err:
            if len(group) == 1:
                group[0].error = err
                return
        for ticket in group:  # one bad batch must not fail the others
            try:
                with self._gate.transaction(), conn.begin():
                    ticket.result = self.write_many(conn, [ticket.batch])[0]
                self._committed(ticket.result)
            except Exception as err:
                ticket.error = err

    def _committed(self, rows: int) -> None:
        if self.checkpointer is not None:
            self.checkpointer.committed(rows)


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
