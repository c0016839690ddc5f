"""Cleaning of raw event rows: every rejected row is counted under a reason, never dropped silently.

:func:`clean` takes a frame with the canonical column names of :class:`~pricepilot.data.events.EventBatch`
(as a reader makes it, values still raw) and returns the valid rows, typed, and a
:class:`CleaningReport`. A row that breaks several rules counts once, under the first reason in
``REASONS`` order, so the counts add up to the rows rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pricepilot.data.events import (
    KIND_LABELS,
    NEEDS_ITEM,
    NEEDS_PRICE,
    NEEDS_RATING,
    NEEDS_USER,
    NO_USER,
    kind_codes,
)

REASONS = (
    "missing_event_id",
    "unknown_kind",
    "bad_timestamp",
    "missing_user",
    "missing_item",
    "missing_price",
    "invalid_price",
    "negative_price",
    "bad_quantity",
    "missing_rating",
    "rating_out_of_range",
    "bad_propensity",
    "duplicate_event_id",
    "duplicate_content",
)
MAX_SAMPLES = 5
Mask = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CleaningReport:
    """What ingestion kept and what it rejected, and why.

    Attributes
    ----------
    rows_in : int, rows read from the source
    rows_out : int, events kept
    rejected : mapping reason -> number of rows rejected for it (reasons of ``REASONS``, non-zero only)
    samples : mapping reason -> the first few 0-based source rows rejected for it
    """

    rows_in: int
    rows_out: int
    rejected: Mapping[str, int] = field(default_factory=dict)
    samples: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.rejected) - set(REASONS)
        if unknown:
            raise ValueError(f"unknown rejection reasons {sorted(unknown)}; known: {REASONS}")
        if self.rows_in - self.rows_out != self.total_rejected:
            raise ValueError(
                f"report does not add up: {self.rows_in} in - {self.rows_out} out != "
                f"{self.total_rejected} rejected"
            )

    @property
    def total_rejected(self) -> int:
        return int(sum(self.rejected.values()))

    def then(self, later: CleaningReport) -> CleaningReport:
        """This report followed by a later stage's (whose input is this one's output)."""
        if later.rows_in != self.rows_out:
            raise ValueError(f"later stage read {later.rows_in} rows, this one kept {self.rows_out}")
        rejected = dict(self.rejected)
        samples = dict(self.samples)
        for reason, count in later.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + count
            samples[reason] = (samples.get(reason, ()) + later.samples.get(reason, ()))[:MAX_SAMPLES]
        return CleaningReport(self.rows_in, later.rows_out, rejected, samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rejected": dict(self.rejected),
            "samples": {k: list(v) for k, v in self.samples.items()},
        }

    def __str__(self) -> str:
        lines = [f"{self.rows_in:,} rows read, {self.rows_out:,} kept, {self.total_rejected:,} rejected"]
        for reason in REASONS:
            if reason in self.rejected:
                rows = ", ".join(map(str, self.samples.get(reason, ())))
                lines.append(f"  {reason}: {self.rejected[reason]:,} (rows {rows} ...)")
        return "\n".join(lines)


def report_from_masks(
    rows_in: int, masks: Mapping[str, Mask], source_row: NDArray[np.int64]
) -> tuple[Mask, CleaningReport]:
    """Assign each bad row to its first reason (in ``masks`` order); return the keep mask and report."""
    taken = np.zeros(rows_in, dtype=bool)
    rejected: dict[str, int] = {}
    samples: dict[str, tuple[int, ...]] = {}
    for reason, mask in masks.items():
        hit = mask & ~taken
        count = int(hit.sum())
        if count:
            rejected[reason] = count
            samples[reason] = tuple(int(r) for r in source_row[np.flatnonzero(hit)[:MAX_SAMPLES]])
        taken |= hit
    return ~taken, CleaningReport(rows_in, int((~taken).sum()), rejected, samples)


def _numbers(frame: pd.DataFrame, column: str, default: float) -> tuple[NDArray[np.float64], Mask]:
    """The column as floats and a mask of values present but not numbers (or not finite)."""
    if column not in frame.columns:
        return np.full(len(frame), default), np.zeros(len(frame), dtype=bool)
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    given = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    values = np.where(given, values, default)
    return values, given & ~np.isfinite(values)


def _timestamps(frame: pd.DataFrame, fmt: str | None, unit: str) -> pd.Series:
    raw = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(raw.dtype):
        stamps = pd.to_datetime(raw, unit=unit, errors="coerce", utc=True)  # type: ignore[call-overload]
    else:
        text = raw.astype(str)  # a stray number in a text column is text, not an epoch
        stamps = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    naive: pd.Series = stamps.dt.tz_localize(None)
    return naive


def clean(
    frame: pd.DataFrame,
    rating_range: tuple[float, float] = (1.0, 5.0),
    timestamp_format: str | None = None,
    timestamp_unit: str = "s",
) -> tuple[pd.DataFrame, CleaningReport]:
    """Valid rows of ``frame``, typed, and the report of the rows rejected.

    Parameters
    ----------
    frame : pandas DataFrame with ``kind`` and ``timestamp`` and any of ``event_id``, ``user``
        (int64 pseudonyms, -1 = none), ``item``, ``price``, ``quantity``, ``rating``, ``text``,
        ``propensity``, ``source_row``
    rating_range : inclusive bounds of a valid review rating
    timestamp_format : strptime format of text timestamps (default: ISO 8601); numbers are epochs
        in ``timestamp_unit``

    Returns
    -------
    (frame of the kept rows with typed columns ready for ``EventBatch.from_frame``, report)
    """
    for needed in ("kind", "timestamp"):
        if needed not in frame.columns:
            raise ValueError(f"no {needed!r} column among {list(frame.columns)}: map one (see ColumnMap)")
    df = frame.reset_index(drop=True)
    n = len(df)
    source_row = df["source_row"].to_numpy(dtype=np.int64) if "source_row" in df.columns else np.arange(n)
    labels, uniques = pd.factorize(df["kind"])  # few distinct kinds: look each up once
    lookup = np.array([KIND_LABELS.get(str(u).strip().lower(), -1) for u in uniques] + [-1], dtype=np.int8)
    code = lookup[labels]  # label -1 (missing) picks the trailing -1
    stamps = _timestamps(df, timestamp_format, timestamp_unit)
    user = df["user"].to_numpy(dtype=np.int64) if "user" in df.columns else np.full(n, NO_USER)
    item = df["item"].astype(str).str.strip() if "item" in df.columns else pd.Series([""] * n)
    item = item.where(df["item"].notna(), "") if "item" in df.columns else item
    price, bad_price = _numbers(df, "price", np.nan)
    quantity, bad_qty = _numbers(df, "quantity", 1.0)
    rating, bad_rating = _numbers(df, "rating", np.nan)
    propensity, bad_prop = _numbers(df, "propensity", np.nan)
    needs = {
        name: np.isin(code, kind_codes(kinds))
        for name, kinds in (
            ("user", NEEDS_USER),
            ("item", NEEDS_ITEM),
            ("price", NEEDS_PRICE),
            ("rating", NEEDS_RATING),
        )
    }
    masks: dict[str, Mask] = {}
    if "event_id" in df.columns:
        ids = df["event_id"]
        masks["missing_event_id"] = (ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy()
    masks["unknown_kind"] = code < 0
    masks["bad_timestamp"] = stamps.isna().to_numpy()
    masks["missing_user"] = needs["user"] & (user == NO_USER)
    masks["missing_item"] = needs["item"] & (item == "").to_numpy()
    masks["missing_price"] = needs["price"] & np.isnan(price) & ~bad_price
    masks["invalid_price"] = bad_price
    masks["negative_price"] = price < 0
    masks["bad_quantity"] = bad_qty | ~(quantity > 0)
    masks["missing_rating"] = needs["rating"] & np.isnan(rating) & ~bad_rating
    low, high = rating_range
    masks["rating_out_of_range"] = needs["rating"] & (bad_rating | (rating < low) | (rating > high))
    masks["bad_propensity"] = bad_prop | (propensity <= 0) | (propensity > 1)
    keep, report = report_from_masks(n, masks, source_row)
    out = pd.DataFrame(
        {
            "kind": code,
            "timestamp": stamps.to_numpy("datetime64[us]"),
            "user": user,
            "item": item.to_numpy(dtype=object),
            "price": price,
            "quantity": quantity,
            "rating": np.where(needs["rating"], rating, np.nan),
            "propensity": propensity,
            "source_row": source_row,
        }
    )
    out["text"] = df["text"].fillna("").astype(str).to_numpy(dtype=object) if "text" in df.columns else ""
    if "event_id" in df.columns:
        out["event_id"] = df["event_id"].astype(str).str.strip().to_numpy(dtype=object)
    return out.loc[keep].reset_index(drop=True), report
