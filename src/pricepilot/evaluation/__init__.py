"""Evaluation: simulated benchmarks against the oracle, off-policy estimators on logged data, and the
promotion gate."""

from __future__ import annotations

from pricepilot.data.logged import LoggedData, LogValidationError
from pricepilot.evaluation.benchmark import benchmark, build_policy, run_one
from pricepilot.evaluation.diagnostics import Diagnostics, UnreliableEstimateWarning
from pricepilot.evaluation.estimators import (
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    Estimate,
    Estimator,
    OPEInputs,
    SelfNormalizedDR,
    SwitchDR,
    available_estimators,
    make_estimator,
    prepare,
)
from pricepilot.evaluation.gate import GateConfig, GateDecision, check_promotion, promotion_gate
from pricepilot.evaluation.offline import OffPolicyReport, evaluate_offline
from pricepilot.evaluation.report import BenchmarkReport, RunCurve
from pricepilot.evaluation.reward_model import (
    RewardModel,
    RewardModelConfig,
    dm_refit_draws,
    select_reward_model,
)
from pricepilot.evaluation.traffic import log_traffic

__all__ = [
    "IPS",
    "SNIPS",
    "BenchmarkReport",
    "Diagnostics",
    "DirectMethod",
    "DoublyRobust",
    "Estimate",
    "Estimator",
    "GateConfig",
    "GateDecision",
    "LogValidationError",
    "LoggedData",
    "OPEInputs",
    "OffPolicyReport",
    "RewardModel",
    "RewardModelConfig",
    "RunCurve",
    "SelfNormalizedDR",
    "SwitchDR",
    "UnreliableEstimateWarning",
    "available_estimators",
    "benchmark",
    "build_policy",
    "check_promotion",
    "dm_refit_draws",
    "evaluate_offline",
    "log_traffic",
    "make_estimator",
    "prepare",
    "promotion_gate",
    "run_one",
    "select_reward_model",
]
