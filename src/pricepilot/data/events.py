"""The behavioural event schema: what a visitor did, what a competitor charged, what was offered.

An :class:`EventBatch` is a columnar, typed, frozen record of ``n`` events. Every event has a kind
(:class:`EventKind`), a time, and a stable id that makes ingestion idempotent: the id given by the
source, or else a hash of the event's content (:func:`content_ids`), so that loading the same file
twice yields the same ids. Visitors appear only as pseudonyms (see :mod:`pricepilot.data.pseudonym`);
the batch has no place for a raw user id.

Which fields an event needs depends on its kind:

==================  ====  ====  =====  ======  =====================================================
kind                user  item  price  rating  meaning
==================  ====  ====  =====  ======  =====================================================
view                yes   yes                  the visitor saw the item
add_to_cart         yes   yes                  put it in the cart
purchase            yes   yes   yes            bought ``quantity`` units at ``price`` each (paid)
review              yes   yes          yes     rated the item (``text`` optional)
competitor_price          yes   yes            a competitor's price for the item (``text``: who)
promotion                                      a promotion ran (``item`` and ``price`` optional)
offer               yes   yes   yes            an offer served (``propensity`` of the policy)
==================  ====  ====  =====  ======  =====================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pricepilot.types import FloatArray, IntArray

ObjectArray = NDArray[np.object_]
TimeArray = NDArray[np.datetime64]
NO_USER = -1


class EventKind(IntEnum):
    """The kinds of event; the integer is the code stored in :attr:`EventBatch.kind`."""

    VIEW = 0
    ADD_TO_CART = 1
    PURCHASE = 2
    REVIEW = 3
    COMPETITOR_PRICE = 4
    PROMOTION = 5
    OFFER = 6

    @property
    def label(self) -> str:
        """The kind's name in files: ``'view'``, ``'add_to_cart'``, ..."""
        return self.name.lower()


KIND_LABELS: dict[str, EventKind] = {k.label: k for k in EventKind} | {
    "add-to-cart": EventKind.ADD_TO_CART,
    "cart": EventKind.ADD_TO_CART,
    "competitor-price": EventKind.COMPETITOR_PRICE,
    "served_offer": EventKind.OFFER,
    "quote": EventKind.OFFER,
}
NEEDS_USER = frozenset(
    {EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE, EventKind.REVIEW, EventKind.OFFER}
)
NEEDS_ITEM = frozenset(set(EventKind) - {EventKind.PROMOTION})
NEEDS_PRICE = frozenset({EventKind.PURCHASE, EventKind.COMPETITOR_PRICE, EventKind.OFFER})
NEEDS_RATING = frozenset({EventKind.REVIEW})
CONTENT_FIELDS = ("kind", "timestamp", "user", "item", "price", "quantity", "rating", "text", "propensity")


def kind_codes(kinds: frozenset[int] | set[int]) -> NDArray[np.int8]:
    """The codes of a set of kinds, for ``np.isin``."""
    return np.array(sorted(int(k) for k in kinds), dtype=np.int8)


@dataclass(frozen=True, slots=True)
class EventBatch:
    """``n`` events as columns. Build it from cleaned data (:func:`pricepilot.data.ingest.ingest`);
    a value that breaks the schema raises ``ValueError`` naming the field and the first bad row.

    Attributes
    ----------
    event_id : ndarray of shape (n,), object (str): stable id, unique after de-duplication
    kind : ndarray of shape (n,), int8: :class:`EventKind` codes
    timestamp : ndarray of shape (n,), datetime64[us], UTC
    user : ndarray of shape (n,), int64: keyed pseudonym of the visitor, ``NO_USER`` (-1) when none
    item : ndarray of shape (n,), object (str): item id, ``''`` when none
    price : ndarray of shape (n,), float64: unit price in the item's currency (paid, offered or a
        competitor's), NaN when none
    quantity : ndarray of shape (n,), float64: units (1 unless the source says otherwise)
    rating : ndarray of shape (n,), float64: review rating, NaN when none
    text : ndarray of shape (n,), object (str): review text or competitor name, ``''`` when none
    propensity : ndarray of shape (n,), float64: probability of a served offer, NaN when unknown
    source_row : ndarray of shape (n,), int64: 0-based data row of the source the event came from
    """

    event_id: ObjectArray
    kind: NDArray[np.int8]
    timestamp: TimeArray
    user: IntArray
    item: ObjectArray
    price: FloatArray
    quantity: FloatArray
    rating: FloatArray
    text: ObjectArray
    propensity: FloatArray
    source_row: IntArray

    def __post_init__(self) -> None:
        dtypes: dict[str, Any] = {
            "event_id": object,
            "kind": np.int8,
            "timestamp": "datetime64[us]",
            "user": np.int64,
            "item": object,
            "price": np.float64,
            "quantity": np.float64,
            "rating": np.float64,
            "text": object,
            "propensity": np.float64,
            "source_row": np.int64,
        }
        n = len(np.asarray(self.event_id))
        for name, dtype in dtypes.items():
            arr = np.asarray(getattr(self, name), dtype=dtype)
            if arr.shape != (n,):
                raise ValueError(f"EventBatch.{name} has shape {arr.shape}, expected ({n},) like event_id")
            object.__setattr__(self, name, arr)
        self._check()

    def _check(self) -> None:
        def fail(field: str, bad: NDArray[np.bool_], problem: str) -> None:
            hits = np.flatnonzero(bad)
            if hits.size:
                raise ValueError(f"EventBatch.{field}, row {int(hits[0])}: {problem}")

        ids = pd.Series(self.event_id, dtype=object)
        fail("event_id", (ids.isna() | (ids.astype(str) == "")).to_numpy(), "empty id")
        fail("kind", ~np.isin(self.kind, kind_codes(set(EventKind))), "unknown kind code")
        fail("timestamp", np.isnat(self.timestamp), "missing time")
        needs_user = np.isin(self.kind, kind_codes(NEEDS_USER))
        fail("user", needs_user & (self.user == NO_USER), "this kind needs a visitor")
        fail("item", np.isin(self.kind, kind_codes(NEEDS_ITEM)) & (self.item == ""), "needs an item")
        needs_price = np.isin(self.kind, kind_codes(NEEDS_PRICE))
        fail("price", needs_price & ~np.isfinite(self.price), "this kind needs a finite price")
        fail("price", self.price < 0, "negative price")
        fail("quantity", ~(self.quantity > 0), "quantity must be positive")
        fail("rating", np.isin(self.kind, kind_codes(NEEDS_RATING)) & np.isnan(self.rating), "no rating")
        fail("propensity", (self.propensity <= 0) | (self.propensity > 1), "outside (0, 1]")

    @property
    def n(self) -> int:
        """Number of events."""
        return int(self.event_id.shape[0])

    def __len__(self) -> int:
        return self.n

    def take(self, index: NDArray[np.int64] | NDArray[np.bool_]) -> EventBatch:
        """The events at ``index`` (integer positions or a boolean mask), in that order."""
        return EventBatch(**{f: getattr(self, f)[index] for f in self.__dataclass_fields__})

    def to_frame(self) -> pd.DataFrame:
        """The batch as a pandas DataFrame; ``kind`` as its label (``'purchase'``, ...)."""
        cols = {f: getattr(self, f) for f in self.__dataclass_fields__}
        cols["kind"] = np.array([k.label for k in EventKind], dtype=object)[self.kind]
        return pd.DataFrame(cols)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> EventBatch:
        """A batch from a frame with the field names as columns (``kind`` as codes or labels);
        a missing ``event_id`` column is filled with :func:`content_ids`, ``source_row`` with 0..n-1."""
        df = frame.reset_index(drop=True)
        n = len(df)
        kind = df["kind"]
        if not pd.api.types.is_integer_dtype(kind.dtype):
            kind = kind.astype(str).str.strip().str.lower().map(KIND_LABELS)
            if kind.isna().any():
                raise ValueError(f"EventBatch.kind, row {int(np.flatnonzero(kind.isna())[0])}: unknown")
        defaults: dict[str, Any] = {
            "user": np.full(n, NO_USER, dtype=np.int64),
            "item": np.full(n, "", dtype=object),
            "text": np.full(n, "", dtype=object),
            "quantity": np.ones(n),
            "source_row": np.arange(n, dtype=np.int64),
            **{f: np.full(n, np.nan) for f in ("price", "rating", "propensity")},
        }
        cols: dict[str, Any] = {"kind": kind.to_numpy(dtype=np.int8)}
        for name in ("user", "item", "text", "quantity", "source_row", "price", "rating", "propensity"):
            cols[name] = df[name].to_numpy() if name in df.columns else defaults[name]
        stamps = pd.to_datetime(df["timestamp"], utc=True).dt.tz_localize(None)
        cols["timestamp"] = stamps.to_numpy("datetime64[us]")
        for name in ("item", "text"):
            cols[name] = _text_column(cols[name])
        given = df["event_id"].to_numpy(dtype=object) if "event_id" in df.columns else None
        cols["event_id"] = given if given is not None else content_ids(cols)
        return cls(**cols)


def _text_column(values: Any) -> ObjectArray:
    """Values as str (missing as ``''``) in an object array."""
    series = pd.Series(values, dtype=object)
    return series.where(series.notna(), "").astype(str).to_numpy(dtype=object)


def content_ids(cols: dict[str, Any]) -> ObjectArray:
    """Stable ids from content: ``'h'`` + 32 hex digits of BLAKE2b over the fields of
    ``CONTENT_FIELDS``: the numeric fields as little-endian 8-byte values (timestamps in microseconds,
    floats as IEEE bits with every NaN alike and -0 as 0), then ``item`` and ``text`` in UTF-8. The
    same content gives the same id on any machine, in any later run and with any library version."""
    stamps = np.asarray(cols["timestamp"]).astype("datetime64[us]").astype("<i8")
    numeric = [np.asarray(cols["kind"]).astype("<i8"), stamps, np.asarray(cols["user"]).astype("<i8")]
    for name in ("price", "quantity", "rating", "propensity"):
        values = np.asarray(cols[name], dtype="<f8") + 0.0  # -0.0 + 0.0 == +0.0
        numeric.append(np.where(np.isnan(values), np.nan, values).astype("<f8").view("<i8"))
    packed = np.ascontiguousarray(np.column_stack(numeric)).view(f"S{8 * len(numeric)}").ravel()
    out = np.empty(len(stamps), dtype=object)
    for i, (head, item, text) in enumerate(
        zip(
            packed.tolist(), np.asarray(cols["item"]).tolist(), np.asarray(cols["text"]).tolist(), strict=True
        )
    ):
        data = (
            head.ljust(8 * len(numeric), b"\0") + b"\x1f" + str(item).encode() + b"\x1f" + str(text).encode()
        )
        out[i] = "h" + hashlib.blake2b(data, digest_size=16).hexdigest()
    return out
