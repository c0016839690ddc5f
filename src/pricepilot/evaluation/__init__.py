"""Evaluation: simulated benchmarks against the oracle (and, later, off-policy estimators)."""

from __future__ import annotations

from pricepilot.evaluation.benchmark import benchmark, build_policy, run_one
from pricepilot.evaluation.report import BenchmarkReport, RunCurve

__all__ = ["BenchmarkReport", "RunCurve", "benchmark", "build_policy", "run_one"]
