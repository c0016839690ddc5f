"""Tabular Q-learning and SARSA: the TD pieces as pure functions, discretisation, and learning to the
known optimum of tiny environments (termination versus truncation included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import pricepilot as pp
from pricepilot.market.mdp import evaluate_policy
from pricepilot.policies.rl import (
    QLearning,
    QLearningConfig,
    Sarsa,
    SarsaConfig,
    TabularConfig,
    epsilon_greedy,
    linear_schedule,
    state_index,
    td_target,
)
from pricepilot.types import PriceLadder
from tests.policies.rl_envs import ChainEnv, OneStepEnv

TWO = PriceLadder.linear(0.9, 1.1, levels=2)


# ----------------------------------------------------------------- pure functions
def test_td_target_bootstraps_unless_terminated() -> None:
    rewards = np.array([1.0, 1.0, 0.0])
    next_values = np.array([10.0, 10.0, 4.0])
    terminated = np.array([True, False, False])  # row 1: a truncated (time-limit) transition
    np.testing.assert_allclose(td_target(rewards, next_values, terminated, 0.9), [1.0, 10.0, 3.6])


def test_td_target_with_zero_discount_is_the_reward() -> None:
    np.testing.assert_allclose(td_target(np.array([2.0]), np.array([5.0]), np.array([False]), 0.0), [2.0])


def test_linear_schedule_moves_then_holds() -> None:
    assert linear_schedule(1.0, 0.1, 10, 0) == 1.0
    assert linear_schedule(1.0, 0.1, 10, 5) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 10, 50) == pytest.approx(0.1)
    assert linear_schedule(1.0, 0.1, 0, 0) == pytest.approx(0.1)


def test_epsilon_greedy_is_exact_and_splits_ties() -> None:
    q = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 0.0]])
    probs = epsilon_greedy(q, 0.3)
    np.testing.assert_allclose(probs, [[0.1, 0.8, 0.1], [0.45, 0.45, 0.1]])


# ----------------------------------------------------------------- discretisation
def test_state_index_numbers_cells_in_mixed_radix_and_clips() -> None:
    config = TabularConfig(columns=(0, 2), bins=4, low=0.0, high=1.0)
    x = np.array([[0.0, 9.0, 0.0], [0.3, 9.0, 0.0], [0.0, 9.0, 0.6], [-5.0, 9.0, 7.0], [1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(state_index(x, config), [0, 1, 8, 12, 15])
    assert config.n_states == 16


def test_state_index_per_column_ranges_and_negative_columns() -> None:
    config = TabularConfig(columns=(-1, 0), bins=2, low=(-1.0, 0.0), high=(1.0, 10.0))
    x = np.array([[1.0, 0.5], [9.0, -0.5]])
    np.testing.assert_array_equal(state_index(x, config), [1, 2])


def test_state_index_hashes_long_vectors_into_the_table() -> None:
    config = TabularConfig(bins=4, max_states=64)  # all columns: 4 ** 24 cells do not fit
    x = np.random.default_rng(0).normal(size=(500, 24))
    states = state_index(x, config)
    assert states.min() >= 0
    assert states.max() < 64
    np.testing.assert_array_equal(states, state_index(x.copy(), config))
    assert np.unique(states).size > 30  # spread over the table


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"bins": 0}, "bins must be >= 1"),
        ({"low": 1.0, "high": 1.0}, "need finite low < high"),
        ({"columns": (0,), "low": (0.0, 0.0)}, "low has 2 values for 1 columns"),
        ({"gamma": 1.5}, "gamma must lie in"),
        ({"learning_rate": 0.0}, "learning_rate must lie in"),
        ({"epsilon": -0.1}, "epsilon must lie in"),
        ({"exploration_fraction": 2.0}, "exploration_fraction must lie in"),
    ],
)
def test_config_rejects_bad_values(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        QLearningConfig(**changes)


def test_state_columns_must_fit_the_features() -> None:
    policy = QLearning(TWO, QLearningConfig(columns=(5,)))
    with pytest.raises(ValueError, match=r"columns \(5,\) do not fit feature vectors of length 2"):
        policy.q_values(np.zeros((1, 2)))


# ----------------------------------------------------------------- learning
def _chain_config(cls: type[TabularConfig], **changes: Any) -> TabularConfig:
    base: dict[str, Any] = {"columns": (0,), "bins": 5, "low": 0.0, "high": 1.0, "gamma": 0.9}
    return cls(**(base | changes))


def test_q_learning_solves_the_chain_to_its_known_optimum() -> None:
    env = ChainEnv(n=5)
    policy = QLearning(TWO, _chain_config(QLearningConfig, learning_rate=0.2), seed=3)
    log = policy.learn(env, total_steps=3_000, seed=3)
    obs = (np.arange(4) / 4.0)[:, None]
    np.testing.assert_allclose(policy.q_values(obs), env.optimal_q(0.9), atol=0.02)
    np.testing.assert_array_equal(policy.greedy_actions(obs), [1, 1, 1, 1])
    assert log.episode_lengths[-5:].tolist() == [4] * 5  # greedy episodes walk straight to the end


@pytest.mark.parametrize("cls", [QLearning, Sarsa])
@pytest.mark.parametrize("truncate", [True, False])
def test_truncation_bootstraps_and_termination_does_not(cls: type[QLearning], truncate: bool) -> None:
    env = OneStepEnv(rewards=(0.5, 1.0), truncate=truncate)
    config_cls = QLearningConfig if cls is QLearning else SarsaConfig
    config = _chain_config(config_cls, gamma=0.5, learning_rate=0.02, start_epsilon=0.2, epsilon=0.2)
    policy = cls(TWO, config, seed=0)
    policy.learn(env, total_steps=3_000, seed=0)
    q = policy.q_values(np.zeros((1, 1)))[0]
    # Q-learning: truncated (1.5, 2), terminated (0.5, 1). SARSA truncated is on-policy: the behaviour
    # takes the better action with probability 0.9, so V = 0.95 / (1 - 0.5) = 1.9.
    on_policy = cls is Sarsa and truncate
    expected = np.array([0.5, 1.0]) + 0.5 * 1.9 if on_policy else env.optimal_q(0.5)
    np.testing.assert_allclose(q, expected, atol=0.05)


def test_update_learns_one_step_rewards_as_a_bandit(market: pp.market.Market) -> None:
    config = QLearningConfig(columns=(0,), bins=1, epsilon=0.0)  # one state: a context-free bandit
    policy = QLearning(market.ladder, config, seed=0)
    batch = market.observe(2_000)
    decision = pp.policies.make("uniform_random", market.ladder, seed=1).act(batch.context)
    outcomes = market.step(batch, decision)
    policy.update(outcomes)
    means = np.bincount(outcomes.actions, weights=outcomes.reward, minlength=9) / np.bincount(
        outcomes.actions, minlength=9
    )
    # the count-based steps make the first ten visits an exact running mean, then it tracks with 0.1
    assert np.corrcoef(policy.q_[0], means)[0, 1] > 0.5
    assert policy.visits_.sum() == 2_000


def test_learn_checks_the_env_spaces() -> None:
    policy = QLearning(PriceLadder.linear(levels=3))
    with pytest.raises(ValueError, match=r"must have Discrete\(3\) actions"):
        policy.learn(ChainEnv(), total_steps=10)


def test_learn_is_reproducible_from_its_seed() -> None:
    first = QLearning(TWO, _chain_config(QLearningConfig), seed=0)
    second = QLearning(TWO, _chain_config(QLearningConfig), seed=0)
    first.learn(ChainEnv(), 500, seed=4)
    second.learn(ChainEnv(), 500, seed=4)
    np.testing.assert_array_equal(first.q_, second.q_)


def _season_value(season: Any, greedy: Any) -> float:
    U, T = season.units, season.periods
    mdp = season.to_mdp()
    policy = np.zeros(mdp.n_states, dtype=np.int64)
    for u in range(1, U + 1):
        for t in range(1, T + 1):
            obs = np.array([[u / U, t / T]], dtype=np.float32).astype(np.float64)
            policy[season.state_index(u, t)] = int(greedy(obs)[0])
    return float(evaluate_policy(mdp, policy)[season.state_index(U, T)])


@pytest.mark.parametrize("cls", [QLearning, Sarsa])
def test_tabular_learns_a_tiny_inventory_season(cls: type[QLearning]) -> None:
    env = gym.make("pricepilot/InventorySeason-v0", inventory_units=2, selling_periods=4)
    season = env.unwrapped.season  # type: ignore[attr-defined]
    optimum = float(season.solve()[0][-1, -1])
    config_cls = QLearningConfig if cls is QLearning else SarsaConfig
    config = config_cls(columns=(0, 1), bins=5, low=0.0, high=1.0, gamma=1.0, learning_rate=0.01)
    policy = cls(season.ladder, config, seed=0)
    policy.learn(env, total_steps=20_000, seed=0)
    assert _season_value(season, policy.greedy_actions) >= 0.95 * optimum


def test_save_and_load_keep_the_table_and_config(tmp_path: Path) -> None:
    config = _chain_config(SarsaConfig, low=(0.0,), high=(1.0,))
    policy = Sarsa(TWO, config, seed=2)
    policy.learn(ChainEnv(), 400, seed=2)
    policy.save(tmp_path / "sarsa")
    again = pp.policies.load(tmp_path / "sarsa")
    assert isinstance(again, Sarsa)
    assert again.config == policy.config
    np.testing.assert_array_equal(again.q_, policy.q_)
    obs = np.linspace(0, 1, 9)[:, None]
    np.testing.assert_array_equal(again.greedy_actions(obs), policy.greedy_actions(obs))
