"""Readers: CSV, Parquet and JSON lines files, and pandas or polars frames, to one raw pandas frame.

:func:`read_frame` reads a source as it is (text columns as text, so that ids such as ``'0042'`` keep
their zeros); :class:`ColumnMap` says which source column holds which event field, and
:func:`canonical_frame` renames them to the field names that :func:`~pricepilot.data.cleaning.clean`
reads. Nothing is validated here; cleaning does that and reports every rejection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

Format = Literal["csv", "parquet", "jsonl"]
Source = str | os.PathLike[str] | pd.DataFrame | Any
FIELDS = (
    "event_id",
    "kind",
    "timestamp",
    "user",
    "item",
    "price",
    "quantity",
    "rating",
    "text",
    "propensity",
)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Source column of each event field; None where the source has none.

    Attributes
    ----------
    event_id, kind, timestamp, user, item, price, quantity, rating, text, propensity : str or None
        Column names in the source. A name absent from the source counts as None. Without an event id
        column, ids come from the content. ``user`` holds raw visitor ids, hashed at ingestion.
    kind_constant : str or None
        The kind of every row when the source has no kind column (for example ``'purchase'``).
    timestamp_format : str or None, strptime format of text timestamps (default: ISO 8601)
    timestamp_unit : str, unit of numeric timestamps (``'s'``, ``'ms'``, ...)
    """

    event_id: str | None = "event_id"
    kind: str | None = "kind"
    timestamp: str | None = "timestamp"
    user: str | None = "user_id"
    item: str | None = "item_id"
    price: str | None = "price"
    quantity: str | None = "quantity"
    rating: str | None = "rating"
    text: str | None = "text"
    propensity: str | None = "propensity"
    kind_constant: str | None = None
    timestamp_format: str | None = None
    timestamp_unit: str = "s"

    def renames(self) -> dict[str, str]:
        """Source column -> field name, for the fields that name a column."""
        return {getattr(self, f): f for f in FIELDS if getattr(self, f) is not None}


def infer_format(path: Path) -> Format:
    """The format from the file name: ``.csv[.gz|.zip]``, ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``."""
    name = path.name.lower()
    for suffix in (".gz", ".zip", ".bz2", ".xz", ".brotli"):
        name = name.removesuffix(suffix)
    if name.endswith((".csv", ".txt")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise ValueError(f"cannot tell the format of {path}: name it .csv, .parquet or .jsonl, or pass fmt=")


def read_frame(source: Source, fmt: Format | None = None, nrows: int | None = None) -> pd.DataFrame:
    """A source as a raw pandas frame, plus ``source_row`` (0-based data row).

    Parameters
    ----------
    source : path of a CSV (also ``.gz``/``.zip``), Parquet or JSON-lines file; or a pandas frame, or
        any frame with ``to_pandas()`` (polars)
    fmt : the file's format when its name does not tell
    nrows : read only the first ``nrows`` rows

    Raises
    ------
    FileNotFoundError, ValueError (unknown format)
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    elif hasattr(source, "to_pandas"):
        frame = source.to_pandas()
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no event file at {path}")
        kind = fmt or infer_format(path)
        if kind == "csv":
            frame = pd.read_csv(path, dtype=str, nrows=nrows, encoding="utf-8-sig")
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False, nrows=nrows)
        else:
            raise ValueError(f"unknown format {kind!r}: use 'csv', 'parquet' or 'jsonl'")
    if nrows is not None:
        frame = frame.head(nrows)
    frame = frame.reset_index(drop=True)
    frame["source_row"] = np.arange(len(frame), dtype=np.int64)
    return frame


def canonical_frame(raw: pd.DataFrame, columns: ColumnMap) -> pd.DataFrame:
    """The mapped columns of ``raw`` under their field names (others dropped), with ``kind`` set
    from ``columns.kind_constant`` when the source has no kind column."""
    renames = {src: dst for src, dst in columns.renames().items() if src in raw.columns}
    keep = [*renames, *(["source_row"] if "source_row" in raw.columns else [])]
    frame = raw[keep].rename(columns=renames)
    if "kind" not in frame.columns:
        if columns.kind_constant is None:
            names = [f.name for f in fields(columns)]
            raise ValueError(
                f"source has no kind column {columns.kind!r} (columns: {list(raw.columns)}); "
                f"map one or set kind_constant (ColumnMap fields: {names})"
            )
        frame["kind"] = columns.kind_constant
    return frame
