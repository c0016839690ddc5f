"""Context features of a decision: time of day and week, season, and the competitor price ratio.

Cyclic quantities are encoded as sine and cosine so that 23:00 lies next to 00:00 and December next
to January. The competitor price ratio compares our price with the lowest competitor price in force
(the latest ``competitor_price`` event of each competitor for the item at or before the decision).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pricepilot.data.events import EventBatch, EventKind
from pricepilot.types import FloatArray

TIME_COLUMNS = (
    "hour_sin",
    "hour_cos",
    "weekday_sin",
    "weekday_cos",
    "weekend",
    "year_sin",
    "year_cos",
    "season",
)
"""Columns of :func:`time_features`, in order."""

CONTEXT_COLUMNS = (*TIME_COLUMNS, "competitor_ratio", "has_competitor")
"""Columns of :func:`context_features`, in order."""


def _times(timestamps: ArrayLike) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(
        pd.to_datetime(np.asarray(timestamps).ravel(), utc=True, format="ISO8601")
    ).tz_localize(None)
    if index.isna().any():
        raise ValueError(
            f"timestamps must all be times, got NaT at position {int(np.flatnonzero(index.isna())[0])}"
        )
    return index


def time_features(timestamps: ArrayLike) -> pd.DataFrame:
    """Calendar features of each decision time (UTC).

    Returns a frame of shape (n, 8) with :data:`TIME_COLUMNS`: hour of day (with minutes) and day of week
    as sine and cosine, ``weekend`` (1 on Saturday and Sunday), the day of the year as sine and cosine,
    and ``season`` (0 winter: Dec-Feb, 1 spring: Mar-May, 2 summer: Jun-Aug, 3 autumn: Sep-Nov; northern
    hemisphere).
    """
    t = _times(timestamps)
    hour = (t.hour.to_numpy() + t.minute.to_numpy() / 60.0) * (2 * np.pi / 24.0)
    weekday = t.day_of_week.to_numpy() * (2 * np.pi / 7.0)
    year = (t.day_of_year.to_numpy() - 1) * (2 * np.pi / 365.25)
    return pd.DataFrame(
        {
            "hour_sin": np.sin(hour),
            "hour_cos": np.cos(hour),
            "weekday_sin": np.sin(weekday),
            "weekday_cos": np.cos(weekday),
            "weekend": (t.day_of_week.to_numpy() >= 5).astype(np.float64),
            "year_sin": np.sin(year),
            "year_cos": np.cos(year),
            "season": ((t.month.to_numpy() % 12) // 3).astype(np.float64),
        }
    )


def competitor_price_ratio(
    events: EventBatch, items: ArrayLike, timestamps: ArrayLike, prices: ArrayLike
) -> FloatArray:
    """Our price over the lowest competitor price in force, for each decision.

    Parameters
    ----------
    events : the log holding ``competitor_price`` events (``text`` names the competitor)
    items : array of shape (n,), item ids (str) of the decisions
    timestamps : array of shape (n,), decision times
    prices : array of shape (n,), our unit prices, in the item's currency

    Returns
    -------
    ndarray of shape (n,): ``price / min over competitors of their latest price at or before the time``;
    NaN where no competitor had quoted the item by then
    """
    times = _times(timestamps).to_numpy("datetime64[us]")
    item_ids = pd.Series(np.asarray(items, dtype=object).ravel()).astype(str).to_numpy()
    ours = np.asarray(prices, dtype=np.float64).ravel()
    if not item_ids.shape == times.shape == ours.shape:
        raise ValueError(
            f"items, timestamps and prices must have one length, got {item_ids.shape}, {times.shape}, "
            f"{ours.shape}"
        )
    is_quote = events.kind == EventKind.COMPETITOR_PRICE
    quotes = pd.DataFrame(
        {
            "timestamp": events.timestamp[is_quote],
            "item": events.item[is_quote].astype(str),
            "competitor": events.text[is_quote].astype(str),
            "price": events.price[is_quote],
        }
    ).sort_values("timestamp", kind="stable")
    decisions = pd.DataFrame({"timestamp": times, "item": item_ids, "row": np.arange(times.size)})
    decisions = decisions.sort_values("timestamp", kind="stable")
    lowest = np.full(times.size, np.inf)
    for _, theirs in quotes.groupby("competitor", sort=True):  # one pass per competitor, not per row
        joined = pd.merge_asof(decisions, theirs[["timestamp", "item", "price"]], on="timestamp", by="item")
        price = joined["price"].to_numpy(dtype=np.float64)
        rows = joined["row"].to_numpy()
        lowest[rows] = np.fmin(lowest[rows], np.where(np.isnan(price), np.inf, price))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(lowest) & (lowest > 0), ours / lowest, np.nan)


def context_features(
    timestamps: ArrayLike,
    events: EventBatch | None = None,
    items: ArrayLike | None = None,
    prices: ArrayLike | None = None,
) -> pd.DataFrame:
    """Time features plus the competitor price ratio, ready as policy context (no NaN).

    Returns a frame of shape (n, 10) with :data:`CONTEXT_COLUMNS`: :func:`time_features`, then
    ``competitor_ratio`` (:func:`competitor_price_ratio`, 1.0 where no competitor quote exists or when
    ``events``, ``items`` or ``prices`` are not given) and ``has_competitor`` (1.0 where a quote exists).
    """
    out = time_features(timestamps)
    ratio = np.full(len(out), np.nan)
    if events is not None and items is not None and prices is not None:
        ratio = competitor_price_ratio(events, items, timestamps, prices)
    out["competitor_ratio"] = np.where(np.isnan(ratio), 1.0, ratio)
    out["has_competitor"] = (~np.isnan(ratio)).astype(np.float64)
    return out
