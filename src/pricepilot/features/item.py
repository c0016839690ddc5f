"""Item features: price level, popularity, conversion, ratings and category, from events before a cut-off."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pricepilot.data.events import NO_USER, EventBatch, EventKind
from pricepilot.features._common import ListPrices, Time, events_before, reference_prices

ITEM_COLUMNS = (
    "list_price",
    "price_level",
    "mean_price_paid",
    "discount_depth",
    "purchases",
    "units",
    "buyers",
    "popularity",
    "views",
    "conversion",
    "reviews",
    "mean_rating",
    "category",
)
"""Columns of :func:`item_features`, in order."""


def item_features(
    events: EventBatch,
    as_of: Time,
    list_prices: ListPrices | None = None,
    categories: Mapping[str, str] | pd.Series | None = None,
) -> pd.DataFrame:
    """Features of every item with an event before ``as_of`` or a given list price.

    Parameters
    ----------
    events : the event log; only events strictly before ``as_of`` count
    as_of : cut-off time
    list_prices : list price per item id (else the highest unit price paid before ``as_of``)
    categories : category name per item id, where known

    Returns
    -------
    DataFrame indexed by ``item`` (str, ascending) with :data:`ITEM_COLUMNS`:

    - ``list_price``: in currency; ``price_level``: list price / median list price of the item's category
      (items without a known category form one group), so 1 is a typical price
    - ``mean_price_paid``: quantity-weighted mean unit price paid; ``discount_depth``: 1 - that / list price
    - ``purchases`` (lines), ``units``, ``buyers`` (distinct visitors), ``views``, ``reviews``: counts
    - ``popularity``: the item's share of all purchase lines before ``as_of``
    - ``conversion``: purchase lines / views (NaN without views); ``mean_rating`` (NaN without reviews)
    - ``category``: integer code of the category in sorted order of the names, -1 where unknown
    """
    frame = events_before(events, as_of)
    listed = reference_prices(frame, list_prices)
    frame = frame[frame["item"] != ""]
    buys = frame[frame["kind"] == EventKind.PURCHASE]
    buys = buys.assign(value=buys["price"] * buys["quantity"])
    by_item = buys.groupby("item")
    index = pd.Index(frame["item"].unique(), dtype=object).union(listed.index.astype(object)).sort_values()
    index.name = "item"
    out = pd.DataFrame(index=index)
    out["list_price"] = listed
    out["purchases"] = by_item.size()
    out["units"] = by_item["quantity"].sum()
    out["buyers"] = buys[buys["user"] != NO_USER].groupby("item")["user"].nunique()
    out["mean_price_paid"] = by_item["value"].sum() / out["units"]
    out["views"] = frame[frame["kind"] == EventKind.VIEW].groupby("item").size()
    reviews = frame[frame["kind"] == EventKind.REVIEW].groupby("item")["rating"]
    out["reviews"] = reviews.size()
    out["mean_rating"] = reviews.mean()
    counts = ["purchases", "units", "buyers", "views", "reviews"]
    out[counts] = out[counts].fillna(0.0)
    out["popularity"] = out["purchases"] / max(float(out["purchases"].sum()), 1.0)
    out["conversion"] = out["purchases"] / out["views"].where(out["views"] > 0)
    out["discount_depth"] = 1.0 - out["mean_price_paid"] / out["list_price"]

    names = pd.Series(categories, dtype=object) if categories is not None else pd.Series(dtype=object)
    category = names.reindex(index)
    codes, _ = pd.factorize(category, sort=True)  # NaN (unknown) gets -1
    out["category"] = codes.astype(np.float64)
    group = category.fillna("\0all").to_numpy()  # unknown categories share one reference
    median = out["list_price"].groupby(group).transform("median")
    out["price_level"] = out["list_price"] / median
    return out.loc[:, list(ITEM_COLUMNS)].astype(np.float64)
