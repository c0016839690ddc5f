"""Features for the recommender and the pricing policies, from the event log.

- :func:`visitor_features`: history aggregates per visitor (recency, frequency, spend, price paid
  relative to list, coupon use, views, reviews)
- :func:`item_features`: price level, popularity, conversion, ratings and category per item
- :func:`context_features`: time of day and week, season, competitor price ratio per decision
- :func:`feature_matrix`: any of these as a float matrix aligned to a batch, for policy contexts

Every aggregate counts only events strictly before a cut-off time, and is computed with vectorised
pandas group-bys. Text embeddings of titles and reviews live in :mod:`pricepilot.recommend.text`.
"""

from __future__ import annotations

from pricepilot.features.context import (
    CONTEXT_COLUMNS,
    TIME_COLUMNS,
    competitor_price_ratio,
    context_features,
    time_features,
)
from pricepilot.features.item import ITEM_COLUMNS, item_features
from pricepilot.features.matrix import feature_matrix
from pricepilot.features.visitor import VISITOR_COLUMNS, VisitorFeatureConfig, visitor_features

__all__ = [
    "CONTEXT_COLUMNS",
    "ITEM_COLUMNS",
    "TIME_COLUMNS",
    "VISITOR_COLUMNS",
    "VisitorFeatureConfig",
    "competitor_price_ratio",
    "context_features",
    "feature_matrix",
    "item_features",
    "time_features",
    "visitor_features",
]
