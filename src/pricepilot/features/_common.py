"""Helpers shared by the feature modules: the cut-off time, list prices, and the event frame."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pricepilot.data.events import EventBatch, EventKind

Time = str | pd.Timestamp | np.datetime64
ListPrices = Mapping[str, float] | pd.Series
SECONDS_PER_DAY = 86_400.0


def as_time(value: Time) -> np.datetime64:
    """A time as ``datetime64[us]`` (naive UTC, like :attr:`EventBatch.timestamp`)."""
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"as_of must be a time, got {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    out: np.datetime64 = np.array([stamp.to_datetime64()]).astype("datetime64[us]")[0]
    return out


def events_before(events: EventBatch, as_of: Time) -> pd.DataFrame:
    """The events strictly before ``as_of`` as a frame of the columns the features need (``kind`` as
    its integer code), so that no feature sees the future of the decision it describes."""
    cut = as_time(as_of)
    keep = events.timestamp < cut
    return pd.DataFrame(
        {
            "kind": events.kind[keep],
            "timestamp": events.timestamp[keep],
            "user": events.user[keep],
            "item": events.item[keep],
            "price": events.price[keep],
            "quantity": events.quantity[keep],
            "rating": events.rating[keep],
            "text": events.text[keep],
        }
    )


def reference_prices(frame: pd.DataFrame, list_prices: ListPrices | None) -> pd.Series:
    """List price per item id: ``list_prices`` where given, else the highest unit price paid for the
    item in ``frame`` (a catalogue's regular price is the price without a discount)."""
    purchases = frame[frame["kind"] == EventKind.PURCHASE]
    observed = purchases.groupby("item")["price"].max()
    if list_prices is None:
        return observed
    given = pd.Series(list_prices, dtype=np.float64)
    bad = given[~(np.isfinite(given) & (given > 0))]
    if len(bad):
        raise ValueError(
            f"list prices must be positive and finite, got {bad.iloc[0]} for item {bad.index[0]!r}"
        )
    return given.combine_first(observed)
