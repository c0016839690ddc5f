from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.data import LoggedData
from pricepilot.evaluation import (
    GateConfig,
    RewardModel,
    UnreliableEstimateWarning,
    check_promotion,
    promotion_gate,
)


def _fixed(market: Any, action: int) -> Any:
    return pp.policies.make("fixed", market.ladder, action=action)


@pytest.fixture(scope="module")
def predictions(uniform_logs: tuple[Any, LoggedData]) -> np.ndarray:
    return RewardModel().fit_predict(uniform_logs[1])


def test_the_market_has_a_clearly_best_price(uniform_logs: tuple[Any, LoggedData]) -> None:
    market, _ = uniform_logs
    values = market.oracle.uniform_values()
    assert market.oracle.best_uniform_action() == 2
    assert values[2] > 1.2 * values[0]
    assert values[2] > 1.4 * values[8]


@pytest.mark.parametrize("estimator", ["dr", "snips"])
def test_gate_refuses_a_worse_candidate(
    uniform_logs: tuple[Any, LoggedData], predictions: np.ndarray, estimator: str
) -> None:
    market, logged = uniform_logs
    ctx = logged.contexts()
    best, worse = _fixed(market, 2), _fixed(market, 0)
    decision = promotion_gate(
        logged,
        worse.action_probabilities(ctx),
        best.action_probabilities(ctx),
        predictions,
        GateConfig(estimator=estimator),
    )
    assert not decision.promote
    assert decision.difference < 0
    assert any(r.startswith("fails: lower bound of the candidate") for r in decision.reasons)


@pytest.mark.parametrize("estimator", ["dr", "snips"])
@pytest.mark.parametrize("interval", ["normal", "bootstrap"])
def test_gate_accepts_a_clearly_better_candidate(
    uniform_logs: tuple[Any, LoggedData], predictions: np.ndarray, estimator: str, interval: str
) -> None:
    market, logged = uniform_logs
    ctx = logged.contexts()
    decision = promotion_gate(
        logged,
        _fixed(market, 2).action_probabilities(ctx),
        _fixed(market, 8).action_probabilities(ctx),
        predictions,
        GateConfig(estimator=estimator, interval=interval, n_bootstrap=300),  # type: ignore[arg-type]
    )
    assert decision.promote, decision.reasons
    assert decision.candidate.ci_low > decision.current.value
    assert decision.difference_low > 0
    truth = logged.true_value(_fixed(market, 2).action_probabilities(ctx))
    assert truth is not None
    assert decision.candidate.contains(truth)


def test_gate_refuses_a_candidate_equal_to_the_current(uniform_logs: tuple[Any, LoggedData]) -> None:
    market, logged = uniform_logs
    decision = check_promotion(logged, _fixed(market, 2), _fixed(market, 2))
    assert not decision.promote
    assert decision.difference == 0.0


def test_margin_and_untrustworthy_estimates_block_promotion(
    uniform_logs: tuple[Any, LoggedData], predictions: np.ndarray
) -> None:
    market, logged = uniform_logs
    ctx = logged.contexts()
    better, current = _fixed(market, 2).action_probabilities(ctx), _fixed(market, 8).action_probabilities(ctx)
    assert not promotion_gate(logged, better, current, predictions, GateConfig(margin=10.0)).promote
    strict = GateConfig(min_ess=10_000)  # asks for more evidence than the log holds
    with pytest.warns(UnreliableEstimateWarning, match="effective sample size"):
        decision = promotion_gate(logged, better, current, predictions, strict)
    assert not decision.promote
    assert any("untrustworthy" in r for r in decision.reasons)


def test_gate_config_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown estimator"):
        GateConfig(estimator="best_guess")
    with pytest.raises(ValueError, match="alpha"):
        GateConfig(alpha=0)
