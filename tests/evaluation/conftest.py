from __future__ import annotations

from typing import Any

import pytest

import pricepilot as pp
from pricepilot.data import LoggedData
from pricepilot.evaluation import log_traffic


@pytest.fixture(scope="module")
def uniform_logs() -> tuple[Any, LoggedData]:
    """6,000 visits of a small market logged under uniform random prices (with the oracle's truth)."""
    market = pp.market.make("ecommerce", seed=7, n_items=20, n_visitors=2_000)
    logger = pp.policies.make("uniform_random", market.ladder, seed=7)
    return market, log_traffic(market, logger, 6_000)
