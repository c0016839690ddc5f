"""PricePilot: real-time personalised pricing inside a recommender.

>>> import pricepilot as pp
>>> market = pp.market.make("ecommerce", seed=0)
>>> policy = pp.policies.make("thompson", ladder=market.ladder)
"""

from __future__ import annotations

from pricepilot import evaluation, guardrails, market, policies
from pricepilot.types import ContextBatch, Decision, Objective, OutcomeBatch, PriceLadder

__version__ = "0.1.0"

__all__ = [
    "ContextBatch",
    "Decision",
    "Objective",
    "OutcomeBatch",
    "PriceLadder",
    "__version__",
    "evaluation",
    "guardrails",
    "market",
    "policies",
]
