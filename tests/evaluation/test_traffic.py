from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.evaluation import log_traffic


def test_logs_carry_propensities_and_the_truth(uniform_logs: tuple[Any, Any]) -> None:
    market, logged = uniform_logs
    assert logged.n == 6_000
    assert logged.n_actions == market.ladder.n_actions
    np.testing.assert_allclose(logged.propensities, 1 / market.ladder.n_actions)
    assert logged.expected_rewards is not None
    assert logged.purchased is not None
    # the reward is the value of a sale when the visitor bought, else 0
    assert logged.value_if_bought is not None
    rows = np.arange(logged.n)
    np.testing.assert_allclose(
        logged.rewards, np.where(logged.purchased, logged.value_if_bought[rows, logged.actions], 0)
    )
    # realised rewards agree with the oracle's expectation of the logged actions
    expected = logged.expected_rewards[rows, logged.actions]
    assert logged.rewards.mean() == pytest.approx(expected.mean(), rel=0.1)


def test_learning_policy_logs_the_propensity_in_force(market: Any) -> None:
    policy = pp.policies.make("epsilon_greedy", market.ladder, seed=0, epsilon=0.2)
    logged = log_traffic(market, policy, 2_000, batch_size=500)
    assert set(np.round(np.unique(logged.propensities), 6)) <= {
        round(0.2 / 9, 6),
        round(0.8 + 0.2 / 9, 6),
    } | set(np.round(np.unique(logged.propensities), 6))
    assert logged.propensities.min() == pytest.approx(0.2 / 9)


def test_bad_arguments(market: Any) -> None:
    with pytest.raises(ValueError, match="visits must be at least 1"):
        log_traffic(market, pp.policies.make("uniform_random", market.ladder), 0)
