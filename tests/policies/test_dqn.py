"""DQN: Double and vanilla bootstrap targets, the dueling head, numpy serving equal to torch training,
the replay buffer, learning tiny environments, and save/load without torch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import pricepilot as pp
from pricepilot.policies.dqn_torch import QNetwork, get_flat, set_flat
from pricepilot.policies.mlp import dueling_aggregate, layer_shapes, n_parameters, q_forward
from pricepilot.policies.rl import (
    DQN,
    DQNConfig,
    ReplayBuffer,
    double_next_values,
    max_next_values,
    td_target,
)
from pricepilot.types import PriceLadder
from tests.policies.rl_envs import OneStepEnv
from tests.policies.test_tabular import _season_value

TWO = PriceLadder.linear(0.9, 1.1, levels=2)


# ----------------------------------------------------------------- targets and heads
def test_double_dqn_target_differs_from_vanilla_on_a_hand_built_example() -> None:
    q_online = np.array([[1.0, 5.0, 2.0], [0.0, 0.0, 3.0]])
    q_target = np.array([[4.0, 1.0, 3.0], [2.0, 9.0, 1.0]])
    # vanilla: max of the target network; double: target network at the online network's argmax
    np.testing.assert_allclose(max_next_values(q_target), [4.0, 9.0])
    np.testing.assert_allclose(double_next_values(q_online, q_target), [1.0, 1.0])
    rewards, terminated = np.array([1.0, 1.0]), np.array([False, True])
    np.testing.assert_allclose(td_target(rewards, max_next_values(q_target), terminated, 0.5), [3.0, 1.0])
    np.testing.assert_allclose(
        td_target(rewards, double_next_values(q_online, q_target), terminated, 0.5), [1.5, 1.0]
    )


def test_dueling_aggregation_centres_the_advantages() -> None:
    value = np.array([[2.0], [-1.0]])
    advantage = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])
    q = dueling_aggregate(value, advantage)
    np.testing.assert_allclose(q, [[1.0, 2.0, 3.0], [-3.0, -3.0, 3.0]])
    np.testing.assert_allclose(q.mean(axis=1), value[:, 0])  # the value is the mean Q
    np.testing.assert_allclose(dueling_aggregate(value, advantage + 7.0), q)  # shift-invariant


@pytest.mark.parametrize("dueling", [False, True])
def test_numpy_forward_equals_torch_forward_on_random_weights(dueling: bool) -> None:
    torch.manual_seed(0)
    net = QNetwork(7, (16, 8), 5, dueling)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    params = get_flat(net)
    shapes = layer_shapes(7, (16, 8), 5, dueling)
    assert params.shape == (n_parameters(shapes),)
    x = np.random.default_rng(1).normal(size=(32, 7))
    expected = net(torch.as_tensor(x, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(q_forward(params, x, shapes, dueling), expected, rtol=1e-4, atol=1e-4)


def test_flat_weights_round_trip_between_networks() -> None:
    a, b = QNetwork(3, (4,), 2, True), QNetwork(3, (4,), 2, True)
    set_flat(b, get_flat(a))
    np.testing.assert_array_equal(get_flat(b), get_flat(a))
    with pytest.raises(ValueError, match="the network has 31 parameters"):
        set_flat(b, np.zeros(3))


# ----------------------------------------------------------------- replay buffer
def test_replay_buffer_sample_shapes_and_wraparound() -> None:
    buffer = ReplayBuffer(capacity=5, n_features=3)
    for start in (0, 4):
        n = 4
        obs = np.arange(start, start + n, dtype=np.float64)[:, None] * np.ones(3)
        buffer.add(obs, np.arange(n), np.arange(n, dtype=np.float64), obs + 1, np.zeros(n, bool))
    assert len(buffer) == 5
    np.testing.assert_array_equal(np.sort(buffer.obs[:, 0]), [3, 4, 5, 6, 7])  # 0..2 overwritten
    sample = buffer.sample(16, np.random.default_rng(0))
    assert sample.obs.shape == (16, 3)
    assert sample.next_obs.shape == (16, 3)
    assert sample.actions.shape == sample.rewards.shape == sample.terminated.shape == (16,)
    assert sample.obs.dtype == np.float64
    assert sample.terminated.dtype == np.bool_
    np.testing.assert_array_equal(sample.next_obs, sample.obs + 1)


def test_replay_buffer_refuses_to_sample_when_empty() -> None:
    with pytest.raises(ValueError, match="empty replay buffer"):
        ReplayBuffer(4, 2).sample(1, np.random.default_rng(0))


# ----------------------------------------------------------------- the policy
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"hidden_sizes": ()}, "hidden_sizes must be"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"tau": 0.0}, "tau must lie in"),
        ({"loss": "l1"}, "loss must be 'mse' or 'huber'"),
        ({"start_epsilon": 2.0}, "start_epsilon must lie in"),
    ],
)
def test_config_rejects_bad_values(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DQNConfig(**changes)


def test_untrained_policy_prices_uniformly(market: pp.market.Market) -> None:
    policy = DQN(market.ladder)
    probs = policy.action_probabilities(market.observe(4).context)
    np.testing.assert_allclose(probs, 1.0 / market.n_actions)


SMALL = DQNConfig(hidden_sizes=(16,), learning_starts=32, batch_size=32, train_frequency=1)


@pytest.mark.parametrize("truncate", [True, False])
def test_truncation_bootstraps_and_termination_does_not(truncate: bool) -> None:
    env = OneStepEnv(rewards=(0.5, 1.0), truncate=truncate)
    config = DQNConfig(
        hidden_sizes=(8,),
        learning_rate=3e-3,
        gamma=0.5,
        learning_starts=50,
        batch_size=32,
        train_frequency=1,
        target_network_frequency=50,
        start_epsilon=0.5,
        epsilon=0.5,
        anneal_lr=True,
    )
    policy = DQN(TWO, config, seed=0)
    policy.learn(env, total_steps=1_500, seed=0)
    q = policy.q_values(np.zeros((1, 1)))[0]
    np.testing.assert_allclose(q, env.optimal_q(0.5), atol=0.1)  # truncated: (1.5, 2); terminated: (0.5, 1)


def test_update_as_a_bandit_trains_and_exports(market: pp.market.Market) -> None:
    policy = DQN(market.ladder, SMALL, seed=0)
    batch = market.observe(200)
    policy.update(market.step(batch, policy.act(batch.context)))
    assert policy.is_fitted
    assert int(policy.steps_[0]) == 200
    q = policy.q_values(batch.context.observations())
    assert q.shape == (200, market.n_actions)
    assert np.all(np.isfinite(q))
    with pytest.raises(ValueError, match="was trained on 33 features, got 3"):
        policy.q_values(np.zeros((1, 3)))


def test_deciding_needs_no_torch(market: pp.market.Market, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = DQN(market.ladder, SMALL, seed=0)
    batch = market.observe(100)
    policy.update(market.step(batch, policy.act(batch.context)))
    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    decision = policy.act(market.observe(50).context)
    assert decision.n == 50


def test_training_without_torch_says_what_to_install(
    market: pp.market.Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pricepilot.policies.dqn_torch", None)
    batch = market.observe(10)
    policy = DQN(market.ladder, SMALL)
    with pytest.raises(ImportError, match=r"trains with torch.*pricepilot\[peers\]"):
        policy.update(market.step(batch, policy.act(batch.context)))


def test_save_and_load_give_the_same_q_values(tmp_path: Path) -> None:
    env = gym.make("pricepilot/InventorySeason-v0", inventory_units=2, selling_periods=3)
    config = DQNConfig(hidden_sizes=(8,), learning_starts=10, dueling=True)
    policy = DQN(env.unwrapped.season.ladder, config)  # type: ignore[attr-defined]
    policy.learn(env, total_steps=100, seed=5)
    policy.save(tmp_path / "dqn")
    again = pp.policies.load(tmp_path / "dqn")
    assert isinstance(again, DQN)
    assert again.config == policy.config
    x = np.random.default_rng(0).random((20, 2))
    np.testing.assert_array_equal(again.q_values(x), policy.q_values(x))
    again.learn(env, total_steps=50, seed=6)  # a reloaded policy resumes training from its weights
    assert again.is_fitted


def test_learn_is_reproducible_from_its_seed() -> None:
    env = OneStepEnv()
    runs = [DQN(TWO, SMALL).learn(env, 200, seed=1) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].episode_returns, runs[1].episode_returns)
    first, second = DQN(TWO, SMALL), DQN(TWO, SMALL)
    first.learn(env, 200, seed=1)
    second.learn(env, 200, seed=1)
    np.testing.assert_array_equal(first.params_, second.params_)


def test_dqn_learns_a_small_inventory_season_to_95_percent_of_value_iteration() -> None:
    changes = {"selling_periods": 10, "inventory_units": 3}
    env = gym.make("pricepilot/InventorySeason-v0", scenario="inventory-small", **changes)
    season = env.unwrapped.season  # type: ignore[attr-defined]
    assert season.config == pp.market.scenario("inventory-small").replace(**changes)
    optimum = float(season.solve()[0][-1, -1])
    dqn_config = DQNConfig(reward_scale=0.01, gamma=1.0, dueling=True, anneal_lr=True)
    policy = DQN(season.ladder, dqn_config, seed=0)
    policy.learn(env, total_steps=10_000, seed=0)
    assert _season_value(season, policy.greedy_actions) >= 0.95 * optimum
