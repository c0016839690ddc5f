"""Simulated markets with known ground truth: the shop, its dynamics, the oracle and Gymnasium envs."""

from __future__ import annotations

from typing import Any

from pricepilot.market.config import SCENARIOS, MarketConfig, scenario
from pricepilot.market.envs import EcommerceEnv, InventorySeasonEnv, ReferencePriceEnv, register_envs
from pricepilot.market.inventory import InventorySeason
from pricepilot.market.mdp import TabularMDP
from pricepilot.market.shop import Market, MarketBatch, VisitTruth

__all__ = [
    "SCENARIOS",
    "EcommerceEnv",
    "InventorySeason",
    "InventorySeasonEnv",
    "Market",
    "MarketBatch",
    "MarketConfig",
    "ReferencePriceEnv",
    "TabularMDP",
    "VisitTruth",
    "available",
    "make",
    "register_envs",
    "scenario",
]

register_envs()


def available() -> list[str]:
    """Names of the scenario presets."""
    return sorted(SCENARIOS)


def make(name: str = "ecommerce", seed: int = 0, **changes: Any) -> Market:
    """The visitor market of a named scenario, with optional config field changes.

    >>> market = make("ecommerce", seed=0, n_items=20)
    """
    return Market(scenario(name, **changes), seed=seed)
