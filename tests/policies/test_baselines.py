from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.market import Market


def test_make_names_bad_names_and_options(market: Market) -> None:
    with pytest.raises(ValueError, match="unknown policy 'magic'"):
        pp.policies.make("magic", market.ladder)
    with pytest.raises(ValueError, match=r"no option\(s\) \['eps'\]"):
        pp.policies.make("epsilon_greedy", market.ladder, eps=0.1)
    with pytest.raises(ValueError, match="epsilon must lie in"):
        pp.policies.make("epsilon_greedy", market.ladder, epsilon=1.5)
    with pytest.raises(ValueError, match="outside the ladder"):
        pp.policies.make("fixed", market.ladder, action=99)


def test_list_price_charges_list_price(market: Market) -> None:
    batch = market.observe(50)
    decision = pp.policies.make("list_price", market.ladder).act(batch.context)
    np.testing.assert_allclose(decision.prices, batch.context.list_prices)
    np.testing.assert_allclose(decision.propensities, 1.0)


def test_uniform_random_logs_exact_propensities(market: Market) -> None:
    decision = pp.policies.make("uniform_random", market.ladder, seed=3).act(market.observe(9_000).context)
    np.testing.assert_allclose(decision.propensities, 1 / 9)
    counts = np.bincount(decision.actions, minlength=9)
    assert counts.min() > 850


def test_epsilon_greedy_explores_at_rate_epsilon(market: Market) -> None:
    policy = pp.policies.make("epsilon_greedy", market.ladder, epsilon=0.2)
    probs = policy.action_probabilities(market.observe(10).context)
    assert np.allclose(np.sort(probs, axis=1)[:, :-1], 0.2 / 9)
    assert np.allclose(probs.max(axis=1), 0.8 + 0.2 / 9)


@pytest.mark.parametrize("name", ["epsilon_greedy", "thompson"])
def test_learners_find_a_good_uniform_price(name: str) -> None:
    """On a market with one item, the per-level learners end up on the oracle's best uniform price."""
    market = pp.market.make("ecommerce", seed=4, n_items=1, n_visitors=5_000)
    policy = pp.policies.make(name, market.ladder, seed=0)
    for _ in range(60):
        batch = market.observe(1_000)
        policy.update(market.step(batch, policy.act(batch.context)))
    values = market.oracle.uniform_values()
    chosen = np.bincount(policy.act(market.observe(2_000).context).actions, minlength=9)
    top = int(np.argmax(chosen))
    assert values[top] >= 0.97 * values.max()


def test_load_reports_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no saved policy"):
        pp.policies.load(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "policy.json").write_text('{"format": 99}')
    with pytest.raises(ValueError, match="format 99"):
        pp.policies.load(tmp_path / "bad")
