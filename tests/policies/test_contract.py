"""Every registered policy honours the Policy protocol: act, update, action_probabilities, save, load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.market import Market
from pricepilot.policies import Policy, PolicyBase

OPTIONS: dict[str, dict[str, object]] = {"fixed": {"action": 2}}


def _warm(policy: PolicyBase, market: Market, rounds: int = 5) -> None:
    for _ in range(rounds):
        batch = market.observe(200)
        decision = policy.act(batch.context)
        policy.update(market.step(batch, decision))


@pytest.fixture(params=pp.policies.available())
def policy(request: pytest.FixtureRequest, market: Market) -> PolicyBase:
    name = request.param
    return pp.policies.make(name, market.ladder, seed=11, **OPTIONS.get(name, {}))  # type: ignore[arg-type]


def test_is_a_policy(policy: PolicyBase) -> None:
    assert isinstance(policy, Policy)


def test_probabilities_are_distributions_and_match_logged_propensities(
    policy: PolicyBase, market: Market
) -> None:
    _warm(policy, market)
    batch = market.observe(300)
    probs = policy.action_probabilities(batch.context)
    assert probs.shape == (300, market.n_actions)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    decision = policy.act(batch.context)
    rows = np.arange(300)
    assert np.all(probs[rows, decision.actions] > 0)
    np.testing.assert_allclose(decision.propensities, probs[rows, decision.actions])
    np.testing.assert_allclose(decision.prices, batch.context.prices[rows, decision.actions])


def test_update_accepts_outcomes_one_at_a_time(policy: PolicyBase, market: Market) -> None:
    for _ in range(20):
        batch = market.observe(1)
        policy.update(market.step(batch, policy.act(batch.context)))


def test_save_and_load_give_the_same_decisions(policy: PolicyBase, market: Market, tmp_path: Path) -> None:
    _warm(policy, market)
    policy.save(tmp_path / "p")
    policy.save(tmp_path / "p")  # overwriting is atomic and leaves one copy
    assert sorted(f.name for f in tmp_path.iterdir()) == ["p"]
    again = pp.policies.load(tmp_path / "p")
    assert type(again) is type(policy)
    batch = market.observe(400)
    np.testing.assert_allclose(
        again.action_probabilities(batch.context), policy.action_probabilities(batch.context)
    )
    np.testing.assert_array_equal(again.act(batch.context).actions, policy.act(batch.context).actions)


def test_same_seed_same_decisions(policy: PolicyBase, market: Market) -> None:
    twin = policy.fresh(policy.seed)
    batch = market.observe(200)
    np.testing.assert_array_equal(policy.act(batch.context).actions, twin.act(batch.context).actions)


def test_rejects_contexts_of_another_ladder(policy: PolicyBase) -> None:
    other = pp.market.make("ecommerce", seed=0, n_visitors=100, ladder_levels=5)
    with pytest.raises(ValueError, match="was built for 9 actions"):
        policy.act(other.observe(3).context)
