"""Pricing policies: the Policy protocol, baselines and learners, each available by name."""

from __future__ import annotations

from pricepilot.policies import baselines as baselines
from pricepilot.policies import linear as linear
from pricepilot.policies import logistic as logistic
from pricepilot.policies.base import NotFittedError, Policy, PolicyBase, available, load, make

__all__ = ["NotFittedError", "Policy", "PolicyBase", "available", "load", "make"]
