"""Visitor history aggregates: recency, frequency, spend, price paid relative to list, coupon use.

One row per visitor pseudonym, from every event strictly before the cut-off ``as_of`` (so a feature
never sees the decision it describes). Pure pandas group-bys: no Python loop over events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pricepilot.data.events import NO_USER, EventBatch, EventKind
from pricepilot.features._common import (
    SECONDS_PER_DAY,
    ListPrices,
    Time,
    as_time,
    events_before,
    reference_prices,
)

VISITOR_COLUMNS = (
    "recency_days",
    "last_seen_days",
    "tenure_days",
    "purchases",
    "orders",
    "units",
    "spend",
    "avg_order_value",
    "price_ratio",
    "coupon_share",
    "views",
    "carts",
    "reviews",
    "mean_rating",
)
"""Columns of :func:`visitor_features`, in order."""


@dataclass(frozen=True, slots=True)
class VisitorFeatureConfig:
    """Settings of :func:`visitor_features`.

    coupon_tolerance : a purchase line counts as coupon (or discount) use when its unit price is below
        ``list price * (1 - coupon_tolerance)``; the event schema has no coupon field, so a coupon
        shows as a price paid below list
    """

    coupon_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 <= self.coupon_tolerance < 1.0:
            raise ValueError(f"coupon_tolerance must lie in [0, 1), got {self.coupon_tolerance}")


def visitor_features(
    events: EventBatch,
    as_of: Time,
    list_prices: ListPrices | None = None,
    config: VisitorFeatureConfig | None = None,
) -> pd.DataFrame:
    """History aggregates of every visitor with an event before ``as_of``.

    Parameters
    ----------
    events : the event log (any kinds; events without a visitor are ignored)
    as_of : cut-off time; only events strictly before it count
    list_prices : list price per item id; items missing from it (or all, when ``None``) use the highest
        unit price paid for them before ``as_of``
    config : see :class:`VisitorFeatureConfig`

    Returns
    -------
    DataFrame indexed by ``user`` (int64 pseudonym, ascending) with :data:`VISITOR_COLUMNS`:

    - ``recency_days``: days from the last purchase to ``as_of`` (NaN: never bought)
    - ``last_seen_days``: days from the last event of any kind to ``as_of``
    - ``tenure_days``: days from the first event to ``as_of``
    - ``purchases``: purchase lines; ``orders``: distinct purchase times (baskets); ``units``: units
    - ``spend``: sum of unit price x quantity, in currency; ``avg_order_value``: spend / orders
    - ``price_ratio``: mean over purchase lines of unit price paid / list price (NaN: never bought)
    - ``coupon_share``: share of purchase lines paid below list (see the config; NaN: never bought)
    - ``views``, ``carts``, ``reviews``: event counts; ``mean_rating``: mean review rating (NaN: none)
    """
    cfg = config or VisitorFeatureConfig()
    cut = as_time(as_of)
    frame = events_before(events, cut)
    listed = reference_prices(frame, list_prices)
    frame = frame[frame["user"] != NO_USER]
    age_days = (pd.Timestamp(cut) - frame["timestamp"]).dt.total_seconds() / SECONDS_PER_DAY
    frame = frame.assign(age=age_days)
    by_user = frame.groupby("user")
    out = pd.DataFrame(
        {"last_seen_days": by_user["age"].min(), "tenure_days": by_user["age"].max()}, dtype=np.float64
    )

    buys = frame[frame["kind"] == EventKind.PURCHASE]
    codes, uniques = pd.factorize(buys["item"])  # one look-up per item, not per line
    ratio = buys["price"].to_numpy() / listed.reindex(uniques).to_numpy(dtype=np.float64)[codes]
    buys = buys.assign(
        value=buys["price"] * buys["quantity"],
        ratio=ratio,
        coupon=(ratio < 1.0 - cfg.coupon_tolerance).astype(np.float64),
    )
    by_buyer = buys.groupby("user")
    out["recency_days"] = by_buyer["age"].min()
    out["purchases"] = by_buyer.size()
    out["orders"] = by_buyer["timestamp"].nunique()
    out["units"] = by_buyer["quantity"].sum()
    out["spend"] = by_buyer["value"].sum()
    out["price_ratio"] = by_buyer["ratio"].mean()
    out["coupon_share"] = by_buyer["coupon"].mean()
    for column, kind in (("views", EventKind.VIEW), ("carts", EventKind.ADD_TO_CART)):
        out[column] = frame[frame["kind"] == kind].groupby("user").size()
    reviews = frame[frame["kind"] == EventKind.REVIEW].groupby("user")["rating"]
    out["reviews"] = reviews.size()
    out["mean_rating"] = reviews.mean()
    counts = ["purchases", "orders", "units", "spend", "views", "carts", "reviews"]
    out[counts] = out[counts].fillna(0.0)
    out["avg_order_value"] = out["spend"] / out["orders"].where(out["orders"] > 0)
    out.index = out.index.astype(np.int64)
    out.index.name = "user"
    return out.loc[:, list(VISITOR_COLUMNS)].astype(np.float64).sort_index()
