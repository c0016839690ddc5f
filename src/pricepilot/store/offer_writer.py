"""The offer log's writer: a group of :class:`~pricepilot.store.offer_batch.OfferBatch` es inserted in one
statement inside the caller's transaction (see :func:`write_offer_batches`).

A group of batches is written with one statement: on SQLite the offers travel as three JSON
documents (rows, feature rows, batches) serialised by orjson straight from the batches' arrays and
unpacked by one ``INSERT ... SELECT ... FROM json_each(...)``, so the writer thread holds Python's GIL
for about a microsecond per offer and releases it once per group (an ``executemany`` releases and
re-takes it around every row); on PostgreSQL with the driver's ``executemany``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from itertools import chain, repeat

import numpy as np
import orjson
from sqlalchemy.engine import Connection

from pricepilot.store.engine import StoreError, as_utc, json_dumps, sqlite_time, utcnow
from pricepilot.store.offer_batch import OfferBatch
from pricepilot.store.schema import offers
from pricepilot.types import BoolArray, FloatArray, IntArray

_OFFER_COLUMNS = (  # the order of the parameters write_offer_batches builds
    "offer_id",
    "visitor_id",
    "item_id",
    "features",
    "feature_names",
    "action",
    "n_actions",
    "price",
    "list_price",
    "unit_cost",
    "propensity",
    "policy_version",
    "created_at",
)
assert set(_OFFER_COLUMNS) == {c.name for c in offers.columns}, "offers table and writer disagree"


def offer_insert_sql(mark: str = "?") -> str:
    """``INSERT ... ON CONFLICT (offer_id) DO NOTHING`` of one offer, for a driver's own ``executemany``
    with parameter marks ``mark`` (``?`` for sqlite3, ``%s`` for psycopg), the columns in the order
    ``offer_id, visitor_id, item_id, features, feature_names, action, n_actions, price, list_price,
    unit_cost, propensity, policy_version, created_at``."""
    names = ", ".join(_OFFER_COLUMNS)
    marks = ", ".join([mark] * len(_OFFER_COLUMNS))
    return f"INSERT INTO offers ({names}) VALUES ({marks}) ON CONFLICT (offer_id) DO NOTHING"


def _offer_insert_sql(conn: Connection) -> str:
    return offer_insert_sql("?" if conn.dialect.paramstyle == "qmark" else "%s")


# The SQLite insert of a whole group, one statement and one step of the engine (Python's GIL is
# released once, where an executemany releases and re-takes it around every row). Three documents:
#   ?1 rows:     [[offer_id, visitor_id, item_id, action, price, list_price, unit_cost (null: NaN),
#                  propensity, batch], ...], one per offer;
#   ?2 features: [[x_0, ..., x_d-1], ...], the offers' feature rows in the same order;
#   ?3 batches:  [[n_actions, policy_version, created_at text, [feature names]], ...], one per batch.
# The rows and the batches are parsed once each (json_each, materialised), an offer's feature row is
# found by its position (SQLite keeps the parsed features document), feature rows and names are
# stored as the JSON text they were sent as (SQLite keeps a number's text), and the numbers stored as
# SQL values are parsed from orjson's shortest round-trip text, which SQLite reads back to the same
# double (tests/store/test_offer_writer.py compares the rows with the executemany's, bit for bit).
SQLITE_JSON_INSERT = (
    f"INSERT INTO offers ({', '.join(_OFFER_COLUMNS)}) "
    "WITH r(k, v) AS MATERIALIZED (SELECT key, value FROM json_each(?1)), "
    "b(k, n_actions, policy_version, created_at, feature_names) AS MATERIALIZED "
    "(SELECT key, value ->> 0, value ->> 1, value ->> 2, value -> 3 FROM json_each(?3)) "
    "SELECT r.v ->> 0, r.v ->> 1, r.v ->> 2, ?2 -> ('$[' || r.k || ']'), b.feature_names, r.v ->> 3, "
    "b.n_actions, r.v ->> 4, r.v ->> 5, r.v ->> 6, r.v ->> 7, b.policy_version, b.created_at "
    "FROM r CROSS JOIN b WHERE b.k = r.v ->> 8 ON CONFLICT (offer_id) DO NOTHING"
)


#: whether the SQLite linked has the ``->``/``->>`` operators the JSON insert uses (3.38 and later)
_SQLITE_JSON_OPERATORS = sqlite3.sqlite_version_info >= (3, 38, 0)


def sqlite_documents(batch: OfferBatch, now: datetime | None = None) -> tuple[str, str, str]:
    """The three documents of :data:`SQLITE_JSON_INSERT` for ``batch`` (its ``created_at``, or
    ``now``, default the current time), as the offer journal keeps them."""
    return _sqlite_documents([batch], [None], now if now is not None else utcnow())


def _keep_first(batches: Sequence[OfferBatch]) -> list[BoolArray | None]:
    """Per batch, which offers are the group's first with their id (None: all of them)."""
    seen: set[str] = set()
    keep: list[BoolArray | None] = []
    for b in batches:
        mask = np.fromiter((oid not in seen for oid in b.offer_ids), dtype=bool, count=b.n)
        seen.update(b.offer_ids)
        keep.append(None if mask.all() else mask)
    return keep


def _sqlite_documents(
    batches: Sequence[OfferBatch], keep: Sequence[BoolArray | None], now: datetime
) -> tuple[str, str, str]:
    """The three JSON documents of :data:`SQLITE_JSON_INSERT` for the kept offers of ``batches``.

    Python builds no row itself: the columns are converted by numpy and zipped by C code, and the
    features (most of the document) are serialised by orjson straight from the arrays.
    """
    row_docs: list[bytes] = []
    feature_rows: list[FloatArray] = []
    meta: list[tuple[int, str, str, tuple[str, ...]]] = []
    for key, (b, mask) in enumerate(zip(batches, keep, strict=True)):
        created = sqlite_time(as_utc(b.created_at) if b.created_at is not None else now)
        meta.append((int(b.n_actions), b.policy_version, created, b.feature_names))
        ids = b.offer_ids
        columns: list[IntArray | FloatArray] = [b.visitor_ids, b.item_ids, b.actions, b.prices]
        columns += [b.list_prices, b.unit_costs, b.propensities]
        features = b.features
        if mask is not None:
            ids = tuple(i for i, k in zip(ids, mask.tolist(), strict=True) if k)
            columns = [c[mask] for c in columns]
            features = features[mask]
        rows = zip(ids, *(c.tolist() for c in columns), repeat(key))
        row_docs.append(orjson.dumps(list(rows))[1:-1])  # NaN (unknown cost) becomes null
        feature_rows.append(np.ascontiguousarray(features, dtype=np.float64))
    widths = {f.shape[1] for f in feature_rows}
    stacked: object = feature_rows[0] if len(feature_rows) == 1 else None
    if stacked is None:
        if len(widths) == 1:
            stacked = np.concatenate(feature_rows)
        else:  # batches with other feature sets: a list of rows (views of the arrays)
            stacked = [row for f in feature_rows for row in f]
    rows_doc = b"[" + b",".join(d for d in row_docs if d) + b"]"
    features_doc = orjson.dumps(stacked, option=orjson.OPT_SERIALIZE_NUMPY)
    return rows_doc.decode(), features_doc.decode(), orjson.dumps(meta).decode()


def write_offer_batches(conn: Connection, batches: Sequence[OfferBatch]) -> list[int]:
    """Insert the batches' offers not stored before, in one statement; count per batch.

    On SQLite the group travels as JSON documents unpacked by one ``INSERT ... SELECT`` (see
    :data:`SQLITE_JSON_INSERT`); on PostgreSQL, and on an SQLite built without its JSON functions,
    as rows of the driver's own ``executemany``. Both skip SQLAlchemy's per-value processing (the hot
    path of every request) and store what SQLAlchemy would: JSON text for features and names, times
    as SQLAlchemy stores them (text on SQLite), NULL for an unknown (NaN) cost.

    Returns
    -------
    list of int, per batch, how many of its offers were new. An id repeated within the group counts
    for its first batch.

    Raises
    ------
    _RecountError
        When some ids of a group of several batches were stored before: the count of new rows is
        known for the group only, so group commit writes (and counts) each batch on its own.
    """
    now = utcnow()
    keep: list[BoolArray | None] = [None] * len(batches)  # a batch's own ids are unique
    if len(batches) > 1:
        ids = list(chain.from_iterable(b.offer_ids for b in batches))
        if len(set(ids)) != len(ids):
            keep = _keep_first(batches)
    counts = [b.n if k is None else int(k.sum()) for b, k in zip(batches, keep, strict=True)]
    total = sum(counts)
    if total == 0:
        return counts
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "sqlite":
            try:
                if not _SQLITE_JSON_OPERATORS:
                    raise sqlite3.OperationalError("no json ->> operators before SQLite 3.38")
                cursor.execute(SQLITE_JSON_INSERT, _sqlite_documents(batches, keep, now))
            except sqlite3.OperationalError as err:  # an SQLite built without its JSON functions
                if "json" not in str(err):
                    raise
                cursor.executemany(_offer_insert_sql(conn), _offer_rows(batches, keep, now, sqlite=True))
        else:
            cursor.executemany(_offer_insert_sql(conn), _offer_rows(batches, keep, now, sqlite=False))
        inserted = int(cursor.rowcount)
    finally:
        cursor.close()
    if inserted != total and len(batches) > 1:
        # some ids were stored before, and the database counts only the whole group: have each
        # batch written (and counted) on its own
        raise _RecountError(f"{total - inserted} offers of a group were stored before")
    counts[-1] -= total - inserted
    return counts


def _offer_rows(
    batches: Sequence[OfferBatch], keep: Sequence[BoolArray | None], now: datetime, *, sqlite: bool
) -> list[tuple[object, ...]]:
    """The kept offers of ``batches`` as parameter rows of :func:`_offer_insert_sql`."""
    params: list[tuple[object, ...]] = []
    for b, mask in zip(batches, keep, strict=True):
        created: object = as_utc(b.created_at) if b.created_at is not None else now
        if sqlite:
            created = sqlite_time(created)  # type: ignore[arg-type]
        names = json_dumps(list(b.feature_names))
        costs = [None if c != c else c for c in b.unit_costs.tolist()]  # NaN: unknown
        columns = zip(
            b.offer_ids,
            b.visitor_ids.tolist(),
            b.item_ids.tolist(),
            b.features.tolist(),
            b.actions.tolist(),
            b.prices.tolist(),
            b.list_prices.tolist(),
            costs,
            b.propensities.tolist(),
            np.ones(b.n, dtype=bool).tolist() if mask is None else mask.tolist(),
            strict=True,
        )
        for oid, visitor, item, feats, action, price, list_price, cost, propensity, kept in columns:
            if kept:
                params.append(
                    (
                        oid,
                        visitor,
                        item,
                        json_dumps(feats),
                        names,
                        action,
                        b.n_actions,
                        price,
                        list_price,
                        cost,
                        propensity,
                        b.policy_version,
                        created,
                    )
                )
    return params


class _RecountError(StoreError):
    """A group's count cannot be split between its batches (group commit retries them one by one)."""
