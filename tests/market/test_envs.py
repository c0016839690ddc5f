"""Tests of the Gymnasium environments: API conformance, seeding, and agreement with the exact MDP."""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import pricepilot.market
from pricepilot.market.envs import ENV_IDS, OBS_BOUND, EcommerceEnv, InventorySeasonEnv, ReferencePriceEnv

SMALL: dict[str, dict[str, Any]] = {
    "pricepilot/Ecommerce-v0": {"n_items": 10, "n_visitors": 500, "horizon": 30},
    "pricepilot/ReferencePrice-v0": {"n_visitors": 200, "horizon": 30},
    "pricepilot/InventorySeason-v0": {},
}


def test_register_envs_is_idempotent() -> None:
    pricepilot.market.register_envs()
    pricepilot.market.register_envs()
    assert set(ENV_IDS) <= set(gym.registry)


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_env_passes_the_gymnasium_and_sb3_checkers(env_id: str) -> None:
    env = gym.make(env_id, **SMALL[env_id])
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=True)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32
    assert env.observation_space.contains(obs)
    env.close()


def _rollout(env: gym.Env[Any, Any], seed: int, steps: int) -> list[tuple[object, ...]]:
    n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
    obs, _ = env.reset(seed=seed)
    out: list[tuple[object, ...]] = [(obs.tolist(),)]
    for t in range(steps):
        obs, reward, terminated, truncated, _ = env.step(np.int64(t % n_actions))
        out.append((obs.tolist(), reward, terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append((obs.tolist(),))
    return out


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_same_seed_gives_the_same_trajectory(env_id: str) -> None:
    env = gym.make(env_id, **SMALL[env_id])
    first, again = _rollout(env, 5, 60), _rollout(env, 5, 60)
    assert first == again
    assert _rollout(env, 6, 60) != first


def test_ecommerce_truncates_at_the_horizon() -> None:
    env = gym.make("pricepilot/Ecommerce-v0", n_items=5, n_visitors=100, horizon=3)
    env.reset(seed=0)
    flags = [env.step(4)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


def test_reference_price_follows_the_prices_shown() -> None:
    env = ReferencePriceEnv(n_visitors=200, horizon=50)
    obs, _ = env.reset(seed=1)
    names = env.market.feature_names
    assert names[-1] == "visitor_reference_log_price"
    ref = len(names) - 1
    n_visitor = sum(name.startswith("visitor_") for name in names) - 1
    high = env.market.n_actions - 1
    references = [obs[ref]]
    for _ in range(10):
        next_obs, *_ = env.step(high)
        np.testing.assert_array_equal(next_obs[:n_visitor], obs[:n_visitor])  # the same visitor returns
        references.append(next_obs[ref])
    lam = env.config.reference_adaptation
    expected = np.log(env.market.ladder.factors[high]) * (1 - (1 - lam) ** np.arange(11))
    np.testing.assert_allclose(references, expected, atol=1e-6)


@pytest.mark.parametrize("env_id", ["pricepilot/Ecommerce-v0", "pricepilot/ReferencePrice-v0"])
def test_market_observation_ends_with_the_value_of_a_sale_per_list_price(env_id: str) -> None:
    env = cast(EcommerceEnv, gym.make(env_id, **SMALL[env_id]).unwrapped)
    obs, _ = env.reset(seed=3)
    n_features, n_actions = env.market.n_features, env.market.n_actions
    assert obs.shape == (n_features + n_actions,) == env.observation_space.shape
    context = env.current_batch.context
    np.testing.assert_allclose(
        obs[:n_features], np.clip(context.features[0], -OBS_BOUND, OBS_BOUND), rtol=1e-6
    )
    values = context.value_if_bought[0] / context.list_prices[0]
    np.testing.assert_allclose(obs[n_features:], values, rtol=1e-6)
    profit = context.prices[0] - context.unit_costs[0]  # the preset's objective is profit
    np.testing.assert_allclose(obs[n_features:], profit / context.list_prices[0], rtol=1e-6)


def test_current_batch_needs_a_reset() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        _ = ReferencePriceEnv(n_visitors=200).current_batch


def test_reference_price_env_needs_a_dynamic_scenario() -> None:
    with pytest.raises(ValueError, match="no reference-price dynamics"):
        ReferencePriceEnv("ecommerce")


def test_inventory_env_ends_when_season_or_stock_runs_out() -> None:
    env = InventorySeasonEnv(inventory_units=2, selling_periods=4)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [1.0, 1.0])
    steps, terminated = 0, False
    while not terminated:
        obs, _, terminated, truncated, _ = env.step(0)
        steps += 1
        assert not truncated
    assert steps <= 4
    assert obs[0] == 0.0 or obs[1] == 0.0
    with pytest.raises(RuntimeError, match="season is over"):
        env.step(0)


def test_inventory_env_return_matches_the_optimal_value() -> None:
    """Mean episode return of the value-iteration policy lies within 4 standard errors of its value."""
    env = InventorySeasonEnv("inventory-small", salvage_value=0.2)
    season = env.season
    values, policy = season.solve()
    env.reset(seed=123)
    returns = np.empty(3_000)
    for i in range(returns.size):
        env.reset()
        total, terminated = 0.0, False
        while not terminated:
            action = policy[env.periods_left, env.units_left]
            _, reward, terminated, _, _ = env.step(action)
            total += reward
        returns[i] = total
    standard_error = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - values[season.periods, season.units]) < 4 * standard_error
