from __future__ import annotations

from typing import Any

import pytest

import pricepilot as pp
from pricepilot.market import MarketConfig


@pytest.mark.parametrize("name", pp.market.available())
def test_every_scenario_builds(name: str) -> None:
    config = pp.market.scenario(name)
    assert config.name == name
    assert config.ladder.n_actions >= 5


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"n_items": 0}, r"MarketConfig.n_items = 0: must be an int >= 1"),
        ({"price_median": -5.0}, r"MarketConfig.price_median = -5.0: must be > 0"),
        ({"cost_ratio_low": 0.9, "cost_ratio_high": 0.5}, r"MarketConfig.cost_ratio_low"),
        ({"reference_adaptation": 1.5}, r"MarketConfig.reference_adaptation = 1.5"),
        ({"coupons": (0.1, 1.2)}, r"MarketConfig.coupons"),
        ({"objective": "margin"}, r"MarketConfig.objective = 'margin'"),
        ({"base_logit": float("nan")}, r"MarketConfig.base_logit = nan: must be finite"),
    ],
)
def test_invalid_config_names_the_field(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MarketConfig(**changes)


def test_unknown_field_and_scenario_are_named() -> None:
    with pytest.raises(ValueError, match=r"no field\(s\) \['n_itemz'\]"):
        pp.market.scenario("ecommerce", n_itemz=3)
    with pytest.raises(ValueError, match="unknown scenario 'shop'"):
        pp.market.make("shop")
