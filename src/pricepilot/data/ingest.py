"""Ingestion: source -> pseudonymised, cleaned, de-duplicated :class:`EventBatch` plus its report.

Steps, in order: read (:func:`~pricepilot.data.readers.read_frame`), map columns, hash visitor ids
with the key (the raw ids are dropped here, before anything else sees them), clean (every rejected
row counted by reason), build the typed batch (ids from content where the source has none), and
de-duplicate by id and by content. Ingesting the same source twice gives the same events and ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from pricepilot.data.cleaning import CleaningReport, clean
from pricepilot.data.dedup import deduplicate
from pricepilot.data.events import EventBatch
from pricepilot.data.pseudonym import Pseudonymiser, pseudonymise_column
from pricepilot.data.readers import ColumnMap, Format, Source, canonical_frame, read_frame


@dataclass(frozen=True, slots=True)
class Ingested:
    """The events kept and the report of every row that was not."""

    events: EventBatch
    report: CleaningReport


def ingest(
    source: Source,
    columns: ColumnMap | None = None,
    key: str | bytes | Pseudonymiser | None = None,
    rating_range: tuple[float, float] = (1.0, 5.0),
    fmt: Format | None = None,
    nrows: int | None = None,
    dedup_content: bool = True,
) -> Ingested:
    """Read, pseudonymise, clean and de-duplicate one source of events.

    Parameters
    ----------
    source : a CSV / Parquet / JSON-lines path, or a pandas or polars frame
    columns : which source column holds which field (default: the field names with ``user_id``,
        ``item_id``)
    key : pseudonymisation key, or a ready :class:`Pseudonymiser`; None reads
        ``PRICEPILOT_PSEUDONYM_KEY`` (only needed when the source has a user column)
    rating_range : inclusive bounds of a valid review rating
    fmt, nrows : see :func:`~pricepilot.data.readers.read_frame`
    dedup_content : also drop copies of an event's content under another id

    Raises
    ------
    FileNotFoundError, ValueError (unknown format, no kind column),
    MissingKeyError (a user column and no key)
    """
    mapping = columns or ColumnMap()
    frame = canonical_frame(read_frame(source, fmt=fmt, nrows=nrows), mapping)
    if "user" in frame.columns:
        hasher = key if isinstance(key, Pseudonymiser) else Pseudonymiser.from_key(key)
        frame = pseudonymise_column(frame, "user", hasher)
    kept, report = clean(frame, rating_range, mapping.timestamp_format, mapping.timestamp_unit)
    events, dup_report = deduplicate(EventBatch.from_frame(kept), by_content=dedup_content)
    return Ingested(events, report.then(dup_report))
