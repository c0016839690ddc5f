from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.market import Market
from pricepilot.policies.neural import NeuralLinearConfig

SMALL = {"hidden": (8,), "retrain_every": 3_000, "epochs": 2}


def _train(market: Market, policy: pp.policies.PolicyBase, visits: int) -> None:
    uniform = pp.policies.make("uniform_random", market.ladder, seed=1)
    for _ in range(visits // 1_000):
        batch = market.observe(1_000)
        policy.update(market.step(batch, uniform.act(batch.context)))


def _log_loss(policy: pp.policies.PolicyBase, market: Market) -> float:
    batch = market.observe(5_000)
    uniform = pp.policies.make("uniform_random", market.ladder, seed=2)
    outcome = market.step(batch, uniform.act(batch.context))
    probs = policy.purchase_probabilities(batch.context, policy.mean_[None, :])[:, 0, :]  # type: ignore[attr-defined]
    p = np.clip(probs[np.arange(outcome.n), outcome.actions], 1e-9, 1 - 1e-9)
    y = outcome.purchased
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_retrains_and_predicts_better_than_no_representation() -> None:
    market = pp.market.make("ecommerce", seed=5, n_visitors=3_000)
    policy = pp.policies.make("neural_linear", market.ladder, seed=0, **SMALL)  # type: ignore[arg-type]
    _train(market, policy, 2_000)
    assert policy.params_.size == 0  # type: ignore[attr-defined]
    before = _log_loss(policy, market)
    _train(market, policy, 10_000)
    assert policy.params_.size > 0  # type: ignore[attr-defined]
    assert policy.kept_x_.shape[0] == 12_000  # type: ignore[attr-defined]
    assert _log_loss(policy, market) < before


def test_trained_policy_reloads_with_the_same_decisions(tmp_path: Path) -> None:
    market = pp.market.make("ecommerce", seed=6, n_visitors=2_000)
    policy = pp.policies.make("neural_linear", market.ladder, seed=3, **SMALL)  # type: ignore[arg-type]
    _train(market, policy, 4_000)
    policy.save(tmp_path / "nl")
    again = pp.policies.load(tmp_path / "nl")
    contexts = market.observe(300).context
    np.testing.assert_allclose(again.action_probabilities(contexts), policy.action_probabilities(contexts))
    np.testing.assert_array_equal(again.act(contexts).actions, policy.act(contexts).actions)


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="hidden must be one or more positive widths"):
        NeuralLinearConfig(hidden=())
    with pytest.raises(ValueError, match="retrain_every must be >= 1"):
        NeuralLinearConfig(retrain_every=0)
