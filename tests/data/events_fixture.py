"""Hand-built event rows with one of each rejection reason and both kinds of duplicate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = ("event_id", "kind", "timestamp", "user_id", "item_id", "price", "quantity", "rating", "text")
KEY = "test-key-0123456789abcdef"

# (row, expected fate): fate is "keep" or the rejection reason
ROWS: list[tuple[tuple[Any, ...], str]] = [
    (("e1", "view", "2026-01-01T10:00:00", "u1", "i1", None, None, None, None), "keep"),
    (("e1", "view", "2026-01-01T10:00:00", "u1", "i1", None, None, None, None), "duplicate_event_id"),
    (("e2", "purchase", "2026-01-01T10:05:00", "u1", "i1", 9.5, 2, None, None), "keep"),
    (("e3", "purchase", "2026-01-01T10:05:00", "u1", "i1", 9.5, 2, None, None), "duplicate_content"),
    ((None, "view", "2026-01-01T10:00:00", "u2", "i1", None, None, None, None), "missing_event_id"),
    (("e4", "purchase", "2026-01-01T10:06:00", "u1", "i2", -3.0, 1, None, None), "negative_price"),
    (("e5", "teleport", "2026-01-01T10:07:00", "u1", "i1", None, None, None, None), "unknown_kind"),
    (("e6", "review", "2026-01-01T11:00:00", "u1", "i1", None, None, 7, "too good"), "rating_out_of_range"),
    (("e7", "view", "yesterday", "u1", "i1", None, None, None, None), "bad_timestamp"),
    (("e8", "review", "2026-01-02T09:00:00", "u3", "i2", None, None, 4, "nice, fits"), "keep"),
    (("e9", "competitor_price", "2026-01-02T00:00:00", None, "i2", 8.0, None, None, "acme"), "keep"),
    (("e10", "add_to_cart", "2026-01-02T10:00:00", None, "i2", None, None, None, None), "missing_user"),
    (("e11", "purchase", "2026-01-02T10:01:00", "u2", "i2", None, 1, None, None), "missing_price"),
    (("e12", "offer", "2026-01-02T10:02:00", "u2", "i3", 10.0, None, None, None), "keep"),
    (("e13", "promotion", "2026-01-03T00:00:00", None, None, None, None, None, "winter sale"), "keep"),
    (("e14", "add-to-cart", "2026-01-03T08:00:00", "u2", "i3", None, None, None, None), "keep"),
]
KEPT_IDS = [row[0] for row, fate in ROWS if fate == "keep"]
REJECTED = {fate: 1 for _, fate in ROWS if fate != "keep"}


def frame() -> pd.DataFrame:
    return pd.DataFrame([row for row, _ in ROWS], columns=list(COLUMNS))


def write(tmp_path: Path, fmt: str) -> Path:
    """The rows as a file of format ``fmt`` (csv, jsonl or parquet)."""
    df = frame()
    path = tmp_path / f"events.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "jsonl":
        lines = [json.dumps(dict(zip(COLUMNS, row, strict=True))) for row, _ in ROWS]
        path.write_text("\n".join(lines) + "\n")
    else:
        df.to_parquet(path, index=False)
    return path
