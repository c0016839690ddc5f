"""Pricing policies: the Policy protocol, baselines and learners, each available by name."""

from __future__ import annotations

from pricepilot.policies import baselines as baselines
from pricepilot.policies import linear as linear
from pricepilot.policies import logistic as logistic
from pricepilot.policies import neural as neural
from pricepilot.policies import peers as peers  # registers only the peers whose library is installed
from pricepilot.policies import rl as rl  # q_learning, sarsa, dqn
from pricepilot.policies.base import (
    NotFittedError,
    Policy,
    PolicyBase,
    PurchaseModel,
    available,
    load,
    make,
)

__all__ = ["NotFittedError", "Policy", "PolicyBase", "PurchaseModel", "available", "load", "make"]
