"""Tests of the finite-inventory selling season and its exact MDP."""

from __future__ import annotations

import numpy as np
import pytest

from pricepilot.market.config import MarketConfig, scenario
from pricepilot.market.inventory import InventorySeason
from pricepilot.market.mdp import evaluate_policy


@pytest.fixture(scope="module")
def small() -> InventorySeason:
    return InventorySeason(scenario("inventory-small"), seed=0, n_visits=50_000)


def test_one_unit_one_period_by_hand() -> None:
    config = scenario("inventory-small", inventory_units=1, selling_periods=1, salvage_value=0.3)
    season = InventorySeason(config, seed=3, n_visits=20_000)
    values, policy = season.solve()
    lam, q, v, s = season.arrival_probability, season.buy_probability, season.sale_value, season.salvage
    by_action = lam * q * v + (1 - lam * q) * s
    assert s == pytest.approx(0.3 * season.market.catalog.list_price[0])
    assert values[1, 1] == pytest.approx(by_action.max(), abs=1e-12)
    assert policy[1, 1] == int(np.argmax(by_action))
    np.testing.assert_allclose(values[0], [0.0, s])  # season over: salvage only
    assert values[1, 0] == 0.0  # sold out: nothing more to earn


def test_value_and_policy_have_the_classic_structure(small: InventorySeason) -> None:
    values, policy = small.solve()
    assert values.shape == policy.shape == (small.periods + 1, small.units + 1)
    # More stock or more time never hurts.
    assert np.all(np.diff(values, axis=0) >= -1e-9)
    assert np.all(np.diff(values, axis=1) >= -1e-9)
    # The optimal price falls as stock grows and rises as more time is left.
    live = policy[1:, 1:]
    assert np.all(np.diff(live, axis=1) <= 0)
    assert np.all(np.diff(live, axis=0) >= 0)
    assert live.max() > live.min()  # the price really moves with the state


def test_solution_is_exact_for_the_mdp(small: InventorySeason) -> None:
    values, policy = small.solve()
    mdp = small.to_mdp()
    flat_policy = np.append(policy.ravel(), 0)
    exact = evaluate_policy(mdp, flat_policy)
    np.testing.assert_allclose(exact[:-1].reshape(values.shape), values, atol=1e-9)
    assert mdp.gamma == 1.0
    assert mdp.n_states == small.n_states == (small.periods + 1) * (small.units + 1) + 1
    assert small.terminal_state in mdp.terminal_states().tolist()
    assert small.state_index(2, 3) == 3 * (small.units + 1) + 2


def test_buy_probability_falls_with_price_and_matches_the_oracle(small: InventorySeason) -> None:
    q = small.buy_probability
    assert q.shape == (small.n_actions,)
    assert np.all((q > 0) & (q < 1))
    assert np.all(np.diff(q) < 0)
    # One item, so the oracle's long-run value per visit is probability times the sale value.
    np.testing.assert_allclose(q * small.sale_value, small.market.oracle.uniform_values(), rtol=0.02)


@pytest.mark.parametrize("objective", ["revenue", "profit", "conversions"])
def test_sale_value_follows_the_objective(objective: str) -> None:
    season = InventorySeason(scenario("inventory-small", objective=objective), n_visits=1_000)
    cost = season.market.catalog.unit_cost[0]
    expected = {"revenue": season.prices, "profit": season.prices - cost, "conversions": np.ones(5)}
    np.testing.assert_allclose(season.sale_value, expected[objective])
    np.testing.assert_allclose(season.prices, season.market.catalog.list_price[0] * season.ladder.factors)


def test_step_rng_samples_a_period(small: InventorySeason) -> None:
    rng = np.random.default_rng(0)
    steps = [small.step_rng(3, 5, 0, rng) for _ in range(4_000)]
    sold = np.array([s.sold for s in steps])
    p = small.arrival_probability * small.buy_probability[0]
    assert abs(sold.mean() - p) < 4 * np.sqrt(p * (1 - p) / sold.size)
    assert all(s.periods_left == 4 and s.units_left == 3 - s.sold for s in steps)
    assert all(s.reward == (small.sale_value[0] if s.sold else 0.0) for s in steps)


def test_step_rng_pays_salvage_at_the_end() -> None:
    season = InventorySeason(scenario("inventory-small", salvage_value=0.25), n_visits=1_000)
    out = season.step_rng(4, 1, 2, np.random.default_rng(1))
    assert out.periods_left == 0
    expected = out.units_left * season.salvage + (season.sale_value[2] if out.sold else 0.0)
    assert out.reward == pytest.approx(expected)


@pytest.mark.parametrize(
    ("units", "periods", "action", "match"),
    [(0, 3, 0, "is not live"), (2, 0, 0, "is not live"), (9, 3, 0, "is not live"), (2, 3, 5, "outside")],
)
def test_step_rng_rejects_bad_input(
    small: InventorySeason, units: int, periods: int, action: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        small.step_rng(units, periods, action, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (scenario("inventory-small", n_items=2), "sells one item, got n_items = 2"),
        (scenario("inventory-small", inventory_units=0), r"inventory_units = 0: .*needs >= 1"),
        (MarketConfig(n_items=1), r"inventory_units = 0"),
        (scenario("inventory-small", selling_periods=0), r"selling_periods = 0"),
    ],
)
def test_bad_config_raises(config: MarketConfig, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        InventorySeason(config)


def test_state_index_rejects_states_outside_the_grid(small: InventorySeason) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.5 x 0\.\.20"):
        small.state_index(6, 0)
