"""Data: behavioural events (schema, readers, cleaning, de-duplication, pseudonymisation,
normalisation), logged bandit feedback and its log files, and real data set loaders."""

from __future__ import annotations

from pricepilot.data.cleaning import REASONS, CleaningReport, clean
from pricepilot.data.datasets import (
    DATASETS,
    DatasetInfo,
    DominicksOJ,
    MovieLens,
    available,
    dataset_info,
    load,
    load_cdnow,
    load_dominicks_oj,
    load_movielens_100k,
    load_ta_feng,
    movielens_events,
    ta_feng_events,
)
from pricepilot.data.dedup import deduplicate
from pricepilot.data.events import EventBatch, EventKind, content_ids
from pricepilot.data.fetch import FetchError, fetch
from pricepilot.data.ingest import Ingested, ingest
from pricepilot.data.logfile import logs_from_frame, logs_to_frame, read_logs, write_logs
from pricepilot.data.logged import LoggedData, LogValidationError
from pricepilot.data.normalise import Normaliser, NotFittedError
from pricepilot.data.open_bandit import OpenBanditLog, action_frequencies, load_open_bandit, per_position
from pricepilot.data.pseudonym import MissingKeyError, Pseudonymiser, resolve_key
from pricepilot.data.readers import ColumnMap, read_frame

__all__ = [
    "DATASETS",
    "REASONS",
    "CleaningReport",
    "ColumnMap",
    "DatasetInfo",
    "DominicksOJ",
    "EventBatch",
    "EventKind",
    "FetchError",
    "Ingested",
    "LogValidationError",
    "LoggedData",
    "MissingKeyError",
    "MovieLens",
    "Normaliser",
    "NotFittedError",
    "OpenBanditLog",
    "Pseudonymiser",
    "action_frequencies",
    "available",
    "clean",
    "content_ids",
    "dataset_info",
    "deduplicate",
    "fetch",
    "ingest",
    "load",
    "load_cdnow",
    "load_dominicks_oj",
    "load_movielens_100k",
    "load_open_bandit",
    "load_ta_feng",
    "logs_from_frame",
    "logs_to_frame",
    "movielens_events",
    "per_position",
    "read_frame",
    "read_logs",
    "resolve_key",
    "ta_feng_events",
    "write_logs",
]
