from __future__ import annotations

import numpy as np
import pytest

import pricepilot as pp


@pytest.fixture
def market() -> pp.market.Market:
    """A small e-commerce market, quick to build."""
    return pp.market.make("ecommerce", seed=7, n_items=20, n_visitors=2_000)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
