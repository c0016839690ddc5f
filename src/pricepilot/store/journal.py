"""A worker's offer journal: offers are durable once appended, and imported into SQLite by another process.

The offer audit log must hold every offer answered. Committing each group to SQLite before its answer
leaves puts the insert (about 10 µs of CPU per offer, most of it holding the writer's share of the
process) on every request's path. The journal takes it off: the event loop appends the group's insert
documents (:func:`pricepilot.store.offer_writer.sqlite_documents`) to a file of its own with one
``write`` and answers; an importer process (:mod:`pricepilot.store.journal_import`, started with the
first append and again whenever it has stopped) inserts them into the store a millisecond or two
later. Durability is that of the store itself: a ``write`` that has returned survives the process
being killed, as an SQLite commit in WAL mode with ``synchronous=NORMAL`` does; neither survives a
power cut without its fsync.

Every answered offer reaches the store:

- while the worker lives, its importer follows the journal (and is restarted when it stops);
- when the worker is closed or killed, its importer sees its standard input end, imports the rest and
  deletes the journal;
- when both are killed, the next worker to start on the store imports it (:func:`recover`; the
  journal's lock is free once its owner is gone). Importing is idempotent, so any overlap is harmless.

Readers of the offer log see an offer once imported: :meth:`OfferJournal.flush` waits for that (the
events route does before it refuses an outcome naming an offer it cannot find).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from pricepilot.store import journal_import
from pricepilot.store.offer_writer import offer_insert_sql

#: bytes after which a worker starts its journal's next segment (the importer deletes a segment
#: once it is imported and the next one exists)
SEGMENT_BYTES = 64 << 20
#: seconds between two starts of the importer, at least (one that keeps failing is not restarted
#: in a tight loop; the journal keeps the offers meanwhile)
RESTART_SECONDS = 1.0


class JournalError(OSError):
    """An offer group could not be appended to the journal (nothing of it was kept)."""


def journal_location(url: str) -> tuple[str, Path] | None:
    """The SQLite file of the store at ``url`` and the directory of its journals (beside it), or None
    for a store that has no file (in-memory SQLite; PostgreSQL, where offers are committed before
    they are answered), or on Windows (no ``flock``)."""
    parsed = make_url(url)
    if sys.platform == "win32" or parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    path = Path(database).resolve()
    return str(path), path.with_name(path.name + ".offer-journal")


def recover(database: str, directory: Path) -> int:
    """Import and delete the journals in ``directory`` whose workers have gone (their locks are free);
    return how many frames were imported. Run before serving; a journal whose owner lives is left
    to it."""
    if not directory.is_dir():
        return 0
    import fcntl  # POSIX only: journal_location gives no journal elsewhere

    imported = 0
    conn = journal_import.connect(database)
    try:
        for lock in sorted(directory.glob("*.lock")):
            owner = lock.name[: -len(".lock")]
            with open(lock, "a+b") as held:
                try:
                    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its worker (or its importer) is alive
                for _ in journal_import.drain(conn, offer_insert_sql(), directory, owner):
                    imported += 1
    finally:
        conn.close()
    return imported


class OfferJournal:
    """This worker's journal of answered offers in ``directory``, imported into the store's SQLite
    file ``database`` by an importer process (see :func:`journal_location`).

    :meth:`append` is called from one thread at a time (the event loop); :meth:`flush` from any.
    """

    def __init__(self, database: str, directory: Path) -> None:
        self.database = database
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.owner = f"{os.getpid()}-{secrets.token_hex(6)}"
        import fcntl  # POSIX only: journal_location gives no journal elsewhere

        self._lock_fd = os.open(
            journal_import.lock_path(directory, self.owner), os.O_CREAT | os.O_RDWR, 0o644
        )
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._seq = 0
        self._fd = self._open_segment(0)
        self._size = 0
        self._finished: dict[int, int] = {}  # sizes of the segments before the current one
        self._progress = threading.Condition(threading.Lock())
        self._imported = (0, 0)  # the importer's last reported position
        self._importer: subprocess.Popen[bytes] | None = None
        self._started_at = -float("inf")
        self._starting = threading.Lock()
        self._running = False  # an importer was started and its output has not ended
        self._closed = False
        #: how many times an importer was started (for tests and the metrics)
        self.importer_starts = 0

    def _open_segment(self, seq: int) -> int:
        path = journal_import.segment_path(self.directory, self.owner, seq)
        return os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)

    @property
    def position(self) -> tuple[int, int]:
        """(segment, bytes) appended so far."""
        return self._seq, self._size

    def append(self, docs: journal_import.Docs) -> None:
        """Append one group's insert documents; once this returns, the group survives the process
        being killed. Raises :class:`JournalError` (nothing kept) when the write fails."""
        if self._closed:
            raise JournalError("the offer journal is closed (the server is stopping)")
        frame = journal_import.encode_frame(docs)
        written = 0
        try:
            while written < len(frame):
                written += os.write(self._fd, frame[written:])
        except OSError as err:
            with contextlib.suppress(OSError):  # leave no torn frame for the next one to follow
                os.ftruncate(self._fd, self._size)
            raise JournalError(f"could not append offers to the journal: {err}") from err
        self._size += len(frame)
        self._ensure_importer()
        if self._size >= SEGMENT_BYTES:
            self._next_segment()

    def _next_segment(self) -> None:
        fd = self._open_segment(self._seq + 1)
        os.close(self._fd)
        self._finished[self._seq] = self._size
        self._fd, self._seq, self._size = fd, self._seq + 1, 0

    @property
    def lag_bytes(self) -> int:
        """Bytes appended and not yet imported, as the importer last reported (0 when it is level)."""
        seq, size = self.position
        with self._progress:
            done_seq, done = self._imported
        if done_seq >= seq:
            return max(0, size - done)
        behind = self._finished.get(done_seq, done) - done
        return behind + sum(self._finished.get(s, 0) for s in range(done_seq + 1, seq)) + size

    def _ensure_importer(self) -> None:
        if self._running:  # no system call per append: the progress reader notes the importer's end
            return
        with self._starting:
            self._start_importer()

    def _start_importer(self) -> None:
        importer = self._importer
        if self._closed or (importer is not None and importer.poll() is None):
            return
        now = time.monotonic()
        if now - self._started_at < RESTART_SECONDS:
            return
        self._started_at = now
        argv = [sys.executable, journal_import.__file__, self.database, str(self.directory), self.owner]
        self._importer = subprocess.Popen(
            [*argv, offer_insert_sql()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        self.importer_starts += 1
        self._running = True
        threading.Thread(
            target=self._follow_progress, args=(self._importer,), name="pp-journal", daemon=True
        ).start()

    def _follow_progress(self, importer: subprocess.Popen[bytes]) -> None:
        """Read the importer's ``SEQ OFFSET`` lines until it exits; wake :meth:`flush` callers."""
        assert importer.stdout is not None  # started with stdout=PIPE
        for line in importer.stdout:
            try:
                seq, offset = (int(x) for x in line.split())
            except ValueError:
                continue
            with self._progress:
                self._imported = max(self._imported, (seq, offset))
                self._progress.notify_all()
        if self._importer is importer:  # it has exited: the next append starts another
            self._running = False
        with self._progress:
            self._progress.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything appended so far is in the store (at most ``timeout`` seconds); whether
        it is."""
        target = self.position
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._imported < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 0.05))
                if not self._closed and (self._importer is None or self._importer.poll() is not None):
                    self._progress.release()
                    try:
                        self._ensure_importer()
                    finally:
                        self._progress.acquire()
        return True

    def close(self, timeout: float = 60.0) -> bool:
        """Stop appending, release the journal to the importer and wait (at most ``timeout`` seconds)
        for it to import the rest and delete the journal; whether it did. When no importer runs, the
        rest is imported here."""
        if self._closed:
            return True
        self._closed = True
        os.close(self._fd)
        os.close(self._lock_fd)  # releases the lock: the importer takes it to finish
        importer = self._importer
        if importer is not None and importer.poll() is None and importer.stdin is not None:
            importer.stdin.close()
            try:
                importer.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
        recover(self.database, self.directory)  # what no importer took (none ran, or it failed)
        return True
