from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pricepilot.data import REASONS, CleaningReport, ColumnMap, EventKind, ingest
from tests.data.events_fixture import KEPT_IDS, KEY, REJECTED, ROWS, frame, write


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_ingest_keeps_exactly_the_valid_unique_events_and_counts_each_reason(
    tmp_path: Path, fmt: str
) -> None:
    result = ingest(write(tmp_path, fmt), key=KEY)
    assert list(result.events.event_id) == KEPT_IDS
    assert dict(result.report.rejected) == REJECTED
    assert result.report.rows_in == len(ROWS)
    assert result.report.rows_out == len(KEPT_IDS)
    # every rejection names its source row
    for reason in REJECTED:
        (row,) = result.report.samples[reason]
        assert ROWS[row][1] == reason


def test_ingested_fields_are_typed() -> None:
    events = ingest(frame(), key=KEY).events
    by_id = {e: i for i, e in enumerate(events.event_id)}
    purchase = by_id["e2"]
    assert events.kind[purchase] == EventKind.PURCHASE
    assert events.price[purchase] == 9.5
    assert events.quantity[purchase] == 2.0
    assert events.timestamp[purchase] == np.datetime64("2026-01-01T10:05:00", "us")
    assert events.rating[by_id["e8"]] == 4.0
    assert events.text[by_id["e8"]] == "nice, fits"
    assert events.user[by_id["e9"]] == -1  # a competitor price has no visitor
    assert events.kind[by_id["e14"]] == EventKind.ADD_TO_CART  # 'add-to-cart' alias
    assert events.item[by_id["e13"]] == ""


def test_ingest_reads_a_frame_with_to_pandas_like_polars() -> None:
    class FakePolars:
        def to_pandas(self) -> pd.DataFrame:
            return frame()

    result = ingest(FakePolars(), key=KEY)
    assert list(result.events.event_id) == KEPT_IDS


def test_ingest_reads_a_polars_frame() -> None:
    pl = pytest.importorskip("polars")
    result = ingest(pl.from_pandas(frame()), key=KEY)
    assert list(result.events.event_id) == KEPT_IDS
    assert dict(result.report.rejected) == REJECTED


def test_ingest_is_idempotent_and_content_ids_are_stable_without_an_id_column(tmp_path: Path) -> None:
    df = frame().drop(columns=["event_id"])
    first = ingest(df, key=KEY)
    second = ingest(df, key=KEY)
    assert list(first.events.event_id) == list(second.events.event_id)
    # without given ids, the id copy (row 1) and the content copy (row 3) are both content duplicates
    assert (
        first.report.rejected.get("duplicate_event_id", 0) + first.report.rejected.get("duplicate_content", 0)
        == 2
    )
    assert "missing_event_id" not in first.report.rejected
    assert all(str(e).startswith("h") and len(str(e)) == 33 for e in first.events.event_id)


def test_column_map_and_constant_kind() -> None:
    raw = pd.DataFrame(
        {"when": [1_700_000_000, 1_700_000_060, 1e30], "who": ["a", "b", "c"], "sku": ["x", "y", "z"]}
    )
    columns = ColumnMap(
        event_id=None, kind=None, kind_constant="view", timestamp="when", user="who", item="sku"
    )
    result = ingest(raw, columns, key=KEY)
    assert result.events.n == 2
    assert dict(result.report.rejected) == {"bad_timestamp": 1}
    assert result.events.timestamp[1] - result.events.timestamp[0] == np.timedelta64(60, "s")


def test_custom_rating_range_and_bad_numbers() -> None:
    df = pd.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "kind": ["review", "review", "purchase", "view"],
            "timestamp": ["2026-01-01"] * 4,
            "user_id": ["u"] * 4,
            "item_id": ["i"] * 4,
            "rating": ["9", "11", None, None],
            "price": [None, None, "abc", None],
            "quantity": [None, None, None, "0"],
        }
    )
    result = ingest(df, key=KEY, rating_range=(0, 10))
    assert list(result.events.event_id) == ["a"]
    assert dict(result.report.rejected) == {
        "rating_out_of_range": 1,
        "invalid_price": 1,
        "bad_quantity": 1,
    }


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"rows_out": 5}, "does not add up"),
        ({"rejected": {"lost": 1}}, "unknown rejection reasons"),
    ],
)
def test_report_refuses_inconsistent_counts(change: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {"rows_in": 5, "rows_out": 4, "rejected": {"unknown_kind": 1}}
    with pytest.raises(ValueError, match=match):
        CleaningReport(**(fields | change))


def test_report_text_and_dict() -> None:
    report = ingest(frame(), key=KEY).report
    text = str(report)
    assert f"{len(ROWS)} rows read, {len(KEPT_IDS)} kept" in text
    assert all(reason in text for reason in REJECTED)
    assert report.to_dict()["rejected"] == REJECTED
    assert set(REJECTED) <= set(REASONS)


def test_missing_kind_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="kind_constant"):
        ingest(frame().drop(columns=["kind"]), key=KEY)


def test_unknown_file_format(tmp_path: Path) -> None:
    path = tmp_path / "events.xlsx"
    path.write_text("x")
    with pytest.raises(ValueError, match="cannot tell the format"):
        ingest(path, key=KEY)
    with pytest.raises(FileNotFoundError, match="no event file"):
        ingest(tmp_path / "absent.csv", key=KEY)
