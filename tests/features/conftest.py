from __future__ import annotations

import pandas as pd
import pytest

from pricepilot.data.events import EventBatch

# kind, timestamp, user, item, price, quantity, rating, text
ROWS = [
    ("view", "2026-01-01 09:00", 1, "milk", None, None, None, ""),
    ("purchase", "2026-01-01 09:10", 1, "milk", 1.00, 2, None, ""),  # list price 1.00
    ("purchase", "2026-01-01 09:10", 1, "bread", 1.50, 1, None, ""),  # same basket; list 2.00
    ("view", "2026-01-02 18:00", 1, "bread", None, None, None, ""),
    ("purchase", "2026-01-03 12:00", 1, "bread", 2.00, 1, None, ""),
    ("review", "2026-01-04 08:00", 1, "bread", None, None, 4.0, "fresh"),
    ("view", "2026-01-02 10:00", 2, "milk", None, None, None, ""),
    ("add_to_cart", "2026-01-02 10:01", 2, "milk", None, None, None, ""),
    ("purchase", "2026-01-02 10:02", 2, "milk", 0.80, 3, None, ""),  # a coupon: 20 % off list
    ("review", "2026-01-05 08:00", 2, "milk", None, None, 2.0, "sour"),
    ("view", "2026-01-04 20:00", 3, "jam", None, None, None, ""),
    ("competitor_price", "2026-01-01 00:00", -1, "milk", 1.10, None, None, "acme"),
    ("competitor_price", "2026-01-03 00:00", -1, "milk", 0.90, None, None, "acme"),
    ("competitor_price", "2026-01-02 00:00", -1, "milk", 0.95, None, None, "bolt"),
    ("purchase", "2026-01-09 00:00", 1, "milk", 5.00, 1, None, ""),  # after the cut-off: ignored
]
AS_OF = "2026-01-06 00:00"
LIST_PRICES = {"milk": 1.00, "bread": 2.00, "jam": 3.00}


@pytest.fixture
def events() -> EventBatch:
    frame = pd.DataFrame(
        ROWS, columns=["kind", "timestamp", "user", "item", "price", "quantity", "rating", "text"]
    )
    frame["quantity"] = frame["quantity"].fillna(1.0)
    return EventBatch.from_frame(frame)
