"""The offer journal's format and its importer: frames appended by a worker, read back into SQLite.

A server worker appends each group of offers it answers to a journal of its own (see
:class:`pricepilot.store.journal.OfferJournal`) and answers at once; this module reads those frames
and inserts them into the store, off the worker's process (so neither its event loop nor its GIL
waits for SQLite). It uses the standard library and orjson only, so the importer process starts in tens of
milliseconds: it runs as a script, ``python journal_import.py DB DIRECTORY OWNER SQL``, ``SQL`` the
insert of one offer (:func:`pricepilot.store.offer_writer.offer_insert_sql`).

A journal is a lock file ``OWNER.lock`` (held, ``flock``, by the worker while it lives) and segments
``OWNER.00000000.seg``, ``OWNER.00000001.seg`` ... (the worker starts the next one once a segment
passes its size limit; a segment is final once the next one exists). A frame is::

    b"PPJ1" | u32 length of each of the three documents | u32 CRC-32 of the three | the documents

the three JSON documents of the offer log's SQLite insert (rows, features, batches; see
:data:`pricepilot.store.offer_writer.SQLITE_JSON_INSERT`), turned back into the rows of one offer
each and inserted with ``executemany`` (in a process of its own, an ``executemany`` holds no other
thread back, and it costs about a fifth less than SQLite unpacking the JSON). A frame is
written with one ``write`` before its offers are answered, so a killed worker leaves every
answered frame whole; a frame cut short by the kill was never answered and is dropped.

The importer runs the frames found in transactions of up to :data:`MAX_FRAMES_PER_TRANSACTION` (and
waits :data:`POLL_SECONDS` between two, so that a transaction carries several), reports each
commit on its standard output as ``SEQ OFFSET`` (the journal position imported up to), and deletes a
segment once it is final and imported. The end of its standard input means that the worker has gone
(closed or killed): it takes the journal's lock, imports what is left, deletes the journal and exits.
Inserts ignore offers already stored (``ON CONFLICT DO NOTHING``), so importing a frame again (after
a restart, or by :func:`pricepilot.store.journal.recover` beside a finishing importer) changes nothing.
"""

from __future__ import annotations

import os
import select
import sqlite3
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson

MAGIC = b"PPJ1"
_HEAD = struct.Struct("<4sIIII")
#: frames (groups of offers) inserted in one transaction at most
MAX_FRAMES_PER_TRANSACTION = 256
#: bytes read from a segment at once at most (a frame longer than this is read whole anyway)
_READ_BYTES = 4 << 20
#: seconds the importer waits for new frames: after a transaction (a commit costs about as much as
#: the rows of several frames: with this wait, a transaction carries several), and the longest idle
POLL_SECONDS = (0.004, 0.02)
BUSY_TIMEOUT_MS = 10_000
#: how much lower the importer's CPU priority is than its worker's (``nice``)
NICE = 5

Docs = tuple[str, str, str]


def encode_frame(docs: Docs) -> bytes:
    """One frame of the three documents (see the module's docstring)."""
    parts = [d.encode() for d in docs]
    crc = zlib.crc32(parts[2], zlib.crc32(parts[1], zlib.crc32(parts[0])))
    return _HEAD.pack(MAGIC, len(parts[0]), len(parts[1]), len(parts[2]), crc) + b"".join(parts)


def decode_frames(data: bytes) -> tuple[list[Docs], int, bool]:
    """The whole frames at the start of ``data``: (documents of each, bytes they take, whether what
    follows them is damaged rather than merely cut short: a bad magic or a CRC that does not match)."""
    frames: list[Docs] = []
    at = 0
    view = memoryview(data)
    while len(data) - at >= _HEAD.size:
        magic, a, b, c, crc = _HEAD.unpack_from(data, at)
        if magic != MAGIC:
            return frames, at, True
        end = at + _HEAD.size + a + b + c
        if end > len(data):
            break
        body = view[at + _HEAD.size : end]
        if zlib.crc32(body) != crc:
            return frames, at, True
        raw = bytes(body)
        frames.append((raw[:a].decode(), raw[a : a + b].decode(), raw[a + b :].decode()))
        at = end
    return frames, at, False


def lock_path(directory: Path, owner: str) -> Path:
    return directory / f"{owner}.lock"


def segment_path(directory: Path, owner: str, seq: int) -> Path:
    return directory / f"{owner}.{seq:08d}.seg"


def segments(directory: Path, owner: str) -> list[int]:
    """The sequence numbers of ``owner``'s segments in ``directory``, in order."""
    found = []
    for path in directory.glob(f"{owner}.*.seg"):
        try:
            found.append(int(path.name[len(owner) + 1 : -4]))
        except ValueError:
            continue
    return sorted(found)


def connect(db: str) -> sqlite3.Connection:
    """A connection to the store's SQLite file as the store's engine sets them up (WAL, NORMAL sync),
    in autocommit mode (transactions are begun explicitly)."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def offer_rows(frames: list[Docs]) -> list[tuple[object, ...]]:
    """The offers of ``frames`` as parameter rows of the insert of one offer, columns ``offer_id,
    visitor_id, item_id, features, feature_names, action, n_actions, price, list_price, unit_cost,
    propensity, policy_version, created_at`` (features and names as JSON text, as the JSON insert
    stores them; numbers parsed from the same shortest round-trip text)."""
    params: list[tuple[object, ...]] = []
    dumps, loads = orjson.dumps, orjson.loads
    for rows_doc, features_doc, batches_doc in frames:
        batches = [
            (n, version, created, dumps(names).decode()) for n, version, created, names in loads(batches_doc)
        ]
        for (oid, visitor, item, action, price, list_price, cost, propensity, key), features in zip(
            loads(rows_doc), loads(features_doc), strict=True
        ):
            n_actions, version, created, names = batches[key]
            text = dumps(features).decode()
            row = (oid, visitor, item, text, names, action, n_actions, price, list_price, cost, propensity)
            params.append((*row, version, created))
    return params


def insert_frames(conn: sqlite3.Connection, sql: str, frames: list[Docs]) -> None:
    """Insert the offers of ``frames`` with ``sql`` (the insert of one offer), all in one transaction
    of ``conn`` (autocommit mode)."""
    rows = offer_rows(frames)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def read_segment(path: Path, offset: int) -> tuple[list[Docs], int, bool]:
    """Whole frames of the segment at ``path`` from ``offset`` (see :func:`decode_frames`); no frames
    when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return [], offset, False
    try:
        frames: list[Docs] = []
        damaged = False
        while len(frames) < MAX_FRAMES_PER_TRANSACTION:
            data = os.pread(fd, _READ_BYTES, offset)
            if len(data) >= _HEAD.size:
                magic, a, b, c, _ = _HEAD.unpack_from(data, 0)
                need = _HEAD.size + a + b + c
                if magic == MAGIC and need > len(data):  # one frame longer than a read
                    data = os.pread(fd, need, offset)
            got, used, damaged = decode_frames(data)
            if not got:
                break
            frames += got
            offset += used
            if damaged:
                break
        return frames, offset, damaged
    finally:
        os.close(fd)


def drain(
    conn: sqlite3.Connection, sql: str, directory: Path, owner: str, start: tuple[int, int] = (0, 0)
) -> Iterator[tuple[int, int]]:
    """Import every frame of ``owner``'s journal (whose worker has gone) from position ``start`` on,
    then delete the journal; yields the position after each transaction. A segment's damaged or
    cut-short tail (a frame being written when the worker was killed, so never answered) is skipped."""
    for seq in segments(directory, owner):
        path = segment_path(directory, owner, seq)
        if seq < start[0]:
            path.unlink(missing_ok=True)
            continue
        offset = start[1] if seq == start[0] else 0
        while True:
            frames, offset, damaged = read_segment(path, offset)
            if frames:
                insert_frames(conn, sql, frames)
                yield seq, offset
            if damaged:
                print(
                    f"pricepilot journal: {path} is damaged at byte {offset}; the rest is skipped",
                    file=sys.stderr,
                )
            if not frames or damaged:
                break
        path.unlink(missing_ok=True)
    lock_path(directory, owner).unlink(missing_ok=True)


def follow(db: str, directory: Path, owner: str, sql: str) -> None:
    """The importer: import ``owner``'s journal as it grows while the worker lives (its standard
    input open), then the rest, and delete it."""
    conn = connect(db)
    seqs = segments(directory, owner)
    seq, offset = (seqs[0] if seqs else 0), 0
    poll = POLL_SECONDS[1]
    while True:
        # looked at first: once the worker has started the next segment, this one holds all its frames
        final = segment_path(directory, owner, seq + 1).exists()
        frames, offset, _ = read_segment(segment_path(directory, owner, seq), offset)
        if frames:
            insert_frames(conn, sql, frames)
            _report(seq, offset)
            poll = POLL_SECONDS[0]
            if final or len(frames) >= MAX_FRAMES_PER_TRANSACTION:  # more to read: go on at once
                continue
        elif final:  # imported whole: on to the next
            segment_path(directory, owner, seq).unlink(missing_ok=True)
            seq, offset = seq + 1, 0
            _report(seq, offset)
            continue
        readable, _, _ = select.select([sys.stdin], [], [], poll)
        if readable and not os.read(sys.stdin.fileno(), 4096):  # end of input: the worker has gone
            break
        if not frames:
            poll = min(poll * 2, POLL_SECONDS[1])
    import fcntl  # POSIX only (the worker keeps no journal elsewhere)

    with open(lock_path(directory, owner), "a+b") as lock:  # the worker's lock is released
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        for position in drain(conn, sql, directory, owner, (seq, offset)):
            _report(*position)
    conn.close()


def _report(seq: int, offset: int) -> None:
    try:
        sys.stdout.write(f"{seq} {offset}\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the worker stopped reading: it has gone
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (kept for the process's life)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: journal_import.py DB DIRECTORY OWNER SQL", file=sys.stderr)
        return 2
    db, directory, owner, sql = argv
    os.nice(NICE)  # the worker's answers come first; the importer catches up in their pauses
    started = time.monotonic()
    try:
        follow(db, Path(directory), owner, sql)
    except Exception as err:
        print(
            f"pricepilot journal importer for {owner} stopped after "
            f"{time.monotonic() - started:.1f} s: {err!r}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
