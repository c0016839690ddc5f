from __future__ import annotations

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.market import Market
from pricepilot.policies.features import visit_features
from pricepilot.policies.linear import LinearConfig


def _outcomes(market: Market, n: int, seed: int) -> pp.OutcomeBatch:
    batch = market.observe(n)
    decision = pp.policies.make("uniform_random", market.ladder, seed=seed).act(batch.context)
    return market.step(batch, decision)


def test_single_and_batched_updates_agree(market: Market) -> None:
    outcomes = _outcomes(market, 300, seed=0)
    one = pp.policies.make("linucb", market.ladder)
    many = pp.policies.make("linucb", market.ladder)
    many.update(outcomes)
    for i in range(outcomes.n):
        rows = np.array([i])
        one.update(
            pp.OutcomeBatch(
                outcomes.contexts.take(rows),
                outcomes.actions[rows],
                outcomes.propensities[rows],
                outcomes.purchased[rows],
                outcomes.revenue[rows],
                outcomes.profit[rows],
                outcomes.reward[rows],
            )
        )
    np.testing.assert_allclose(one.theta_, many.theta_, atol=1e-8)  # type: ignore[attr-defined]
    np.testing.assert_allclose(one.A_inv_, many.A_inv_, atol=1e-10)  # type: ignore[attr-defined]


def test_ridge_solution_is_exact(market: Market) -> None:
    outcomes = _outcomes(market, 2_000, seed=1)
    policy = pp.policies.make("lints", market.ladder, ridge=2.0)
    policy.update(outcomes)
    z = visit_features(outcomes.contexts)
    a = 3
    rows = outcomes.actions == a
    expected = np.linalg.solve(
        2.0 * np.eye(z.shape[1]) + z[rows].T @ z[rows], z[rows].T @ outcomes.purchased[rows]
    )
    np.testing.assert_allclose(policy.theta_[a], expected, atol=1e-8)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["linucb", "lints"])
def test_learns_to_beat_list_price(name: str) -> None:
    market = pp.market.make("ecommerce", seed=3, n_visitors=5_000)
    report = pp.evaluation.benchmark(market, {"learner": name, "list": "list_price"}, visits=40_000)
    table = report.table().set_index("policy")
    assert table.loc["learner", "reward_to_oracle_tail"] > table.loc["list", "reward_to_oracle_tail"] + 0.03


def test_thompson_concentrates_as_data_grows(market: Market) -> None:
    policy = pp.policies.make("lints", market.ladder, seed=2)
    contexts = market.observe(200).context
    spread_before = policy.action_probabilities(contexts).max(axis=1).mean()
    for seed in range(20):
        policy.update(_outcomes(market, 1_000, seed))
    spread_after = policy.action_probabilities(contexts).max(axis=1).mean()
    assert spread_after > spread_before + 0.1


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="ridge must be > 0"):
        LinearConfig(ridge=0.0)
    with pytest.raises(ValueError, match="exploration must be >= 0"):
        LinearConfig(exploration=-1.0)
