"""DQN: Double and vanilla bootstrap targets, the dueling head, numpy serving equal to torch training,
the replay buffer, learning tiny environments, and save/load without torch."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import pricepilot as pp
from pricepilot.policies.dqn_torch import QNetwork, get_flat, set_flat
from pricepilot.policies.mlp import (
    dueling_aggregate,
    layer_shapes,
    n_parameters,
    purchase_decomposed,
    q_forward,
    reference_gaps,
    sigmoid,
    unpack,
    value_weighted,
)
from pricepilot.policies.rl import (
    DQN,
    DQNConfig,
    ReplayBuffer,
    double_next_values,
    max_next_values,
    td_target,
)
from pricepilot.policies.td import (
    NStepQueue,
    ReplaySample,
    continuation_target,
    n_step_return,
    sale_scale_targets,
)
from pricepilot.types import PriceLadder
from tests.policies.rl_envs import ChainEnv, OneStepEnv
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


@pytest.mark.parametrize(
    ("dueling", "weighted", "purchase"),
    [(False, False, False), (True, False, False), (False, True, False), (False, False, True)],
)
def test_numpy_forward_equals_torch_forward_on_random_weights(
    dueling: bool, weighted: bool, purchase: bool
) -> None:
    torch.manual_seed(0)
    net = QNetwork(7, (16, 8), 5, dueling, weighted, purchase)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(std=0.3)
    params = get_flat(net)
    shapes = layer_shapes(7, (16, 8), 5, dueling, weighted, purchase)
    assert params.shape == (n_parameters(shapes),)
    x = np.random.default_rng(1).normal(size=(32, 7))
    expected = net(torch.as_tensor(x, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(
        q_forward(params, x, shapes, dueling, weighted, purchase), expected, rtol=1e-4, atol=1e-4
    )


def test_purchase_decomposed_head_is_price_times_probability_times_value_plus_continuation() -> None:
    x = np.array([[9.0, 0.5, 2.0]])  # a feature, then each of 2 actions' value over the list price
    head = np.array([[0.0, np.log(3.0), 1.0, -1.0, np.log(4.0)]])  # logits, continuations, log scale
    # P(buy) = (1/2, 3/4), list price 4: Q = 4 * (0.5 * 0.5, 0.75 * 2) + (1, -1)
    np.testing.assert_allclose(purchase_decomposed(x, head), [[2.0, 5.0]])
    np.testing.assert_allclose(sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="2 \\* k \\+ 1 outputs and k value columns, got 4 outputs"):
        purchase_decomposed(x, head[:, :4])
    with pytest.raises(ValueError, match="at most one of dueling, value-weighted and purchase"):
        layer_shapes(3, (4,), 2, dueling=False, value_weighted=True, purchase_head=True)


def test_decomposed_targets_on_hand_made_transitions() -> None:
    # continuation: gamma * V(s'), nothing after termination; the reward never enters
    np.testing.assert_allclose(
        continuation_target(np.array([2.0, 5.0]), np.array([False, True]), 0.5), [1.0, 0.0]
    )
    # a sale of reward 6 at value 0.5 reveals a list price of 12; no sale, or no value, reveals nothing
    targets, mask = sale_scale_targets(
        np.array([6.0, 0.0, 3.0, 2.0]), np.array([0.5, 0.5, 0.0, 1.0]), np.array([True, False, True, True])
    )
    np.testing.assert_array_equal(mask, [True, False, False, True])
    np.testing.assert_allclose(targets, [np.log(12.0), 0.0, 0.0, np.log(2.0)])


def test_value_weighted_head_multiplies_the_values_in_the_last_columns() -> None:
    x = np.array([[9.0, 0.5, 2.0], [9.0, 1.0, 0.0]])  # the last two columns: each action's value
    head = np.array([[4.0, 1.0, 0.5, -1.0], [3.0, 3.0, 0.0, 0.0]])  # A (2 actions), then B
    np.testing.assert_allclose(value_weighted(x, head), [[2.5, 1.0], [3.0, 0.0]])
    with pytest.raises(ValueError, match="last 2 input columns as values, got 1"):
        value_weighted(x[:, :1], head)
    with pytest.raises(ValueError, match="at most one of dueling, value-weighted"):
        layer_shapes(3, (4,), 2, dueling=True, value_weighted=True)


@pytest.mark.parametrize("dueling", [False, True])
def test_folded_standardisation_serves_the_same_q_values_in_numpy(dueling: bool) -> None:
    torch.manual_seed(0)
    net = QNetwork(4, (6,), 3, dueling)
    rng = np.random.default_rng(2)
    x = rng.normal(loc=[5.0, -2.0, 0.0, 1.0], scale=[10.0, 0.1, 1.0, 1.0], size=(16, 4))
    shift, scale = x.mean(axis=0), 1.0 / x.std(axis=0)
    raw = get_flat(net)
    net.set_standardisation(shift, scale)
    expected = net(torch.as_tensor(x, dtype=torch.float32)).detach().numpy()
    standardised = (x - shift) * scale  # the unfolded weights see standardised inputs
    np.testing.assert_allclose(
        q_forward(raw, standardised, layer_shapes(4, (6,), 3, dueling), dueling),
        expected,
        rtol=1e-4,
        atol=1e-4,
    )
    folded = net.folded_flat()  # the folded weights see raw inputs
    np.testing.assert_allclose(
        q_forward(folded, x, layer_shapes(4, (6,), 3, dueling), dueling), expected, rtol=1e-4, atol=1e-4
    )
    np.testing.assert_array_equal(folded[30:], raw[30:])  # only the first layer (6 x 4 + 6) changes


def test_flat_weights_round_trip_between_networks() -> None:
    a, b = QNetwork(3, (4,), 2, True), QNetwork(3, (4,), 2, True)
    set_flat(b, get_flat(a))
    np.testing.assert_array_equal(get_flat(b), get_flat(a))
    with pytest.raises(ValueError, match="the network has 31 parameters"):
        set_flat(b, np.zeros(3))


# ----------------------------------------------------------------- n-step returns
def test_n_step_return_and_target_on_a_hand_made_trajectory() -> None:
    assert n_step_return(np.array([1.0, 2.0, 4.0]), 0.5) == 1.0 + 1.0 + 1.0
    # a 3-step target bootstraps with gamma**3; a 2-step one cut by termination does not
    targets = td_target(
        np.array([3.0, 2.0]), np.array([8.0, 8.0]), np.array([False, True]), 0.5, np.array([3, 2])
    )
    np.testing.assert_allclose(targets, [3.0 + 0.125 * 8.0, 2.0])
    np.testing.assert_allclose(td_target(np.array([1.0]), np.array([2.0]), np.array([False]), 0.5), [2.0])


@pytest.mark.parametrize("terminated", [False, True])
def test_n_step_queue_emits_exact_returns_and_flushes_at_the_episode_end(terminated: bool) -> None:
    queue = NStepQueue(n=3, gamma=0.5)
    obs = [np.array([float(t)]) for t in range(6)]
    rewards = [1.0, 2.0, 4.0, 8.0, 16.0]
    out = []
    for t, r in enumerate(rewards):
        last = t == len(rewards) - 1
        done = queue.push(obs[t], t % 2, r, obs[t + 1], terminated and last, last and not terminated)
        assert len(done) == (0 if t < 2 else 1 if not last else 3)
        out.extend(done)
    assert len(queue) == 0
    # s0: 1 + 0.5 * 2 + 0.25 * 4 = 3, then s3; s1: 2 + 2 + 2 = 6, then s4; s2: 4 + 4 + 4 = 12, then s5
    # at the end the last two are cut short: s3: 8 + 8 = 16 over 2 steps, s4: 16 over 1 step, then s5
    np.testing.assert_allclose([t.reward for t in out], [3.0, 6.0, 12.0, 16.0, 16.0])
    assert [t.n_steps for t in out] == [3, 3, 3, 2, 1]
    assert [float(t.obs[0]) for t in out] == [0, 1, 2, 3, 4]
    assert [float(t.next_obs[0]) for t in out] == [3, 4, 5, 5, 5]
    assert [t.action for t in out] == [0, 1, 0, 1, 0]
    # only the transitions that reach the terminal state stop bootstrapping
    assert [t.terminated for t in out] == [False, False, terminated, terminated, terminated]


def test_one_step_queue_passes_every_step_straight_through() -> None:
    queue = NStepQueue(n=1, gamma=0.9)
    (t,) = queue.push(np.zeros(1), 1, 2.5, np.ones(1), False, False)
    assert (t.reward, t.n_steps, t.terminated, t.action) == (2.5, 1, False, 1)
    with pytest.raises(ValueError, match="n_steps must be >= 1, got 0"):
        NStepQueue(n=0, gamma=0.9)


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
        ({"n_steps": 0}, "n_steps must be >= 1, got 0"),
        ({"dueling": True, "value_weighted": True}, "dueling and value_weighted heads exclude each other"),
        ({"reference_feature": -1}, "reference_feature must be a column index >= 0, got -1"),
        ({"purchase_head": True, "dueling": True}, "purchase_head excludes dueling and value_weighted"),
        ({"purchase_head": True, "n_steps": 3}, "n_steps must be 1, got 3"),
    ],
)
def test_config_rejects_bad_values(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DQNConfig(**changes)


def test_decomposed_loss_is_exact_on_a_hand_made_minibatch() -> None:
    config = DQNConfig(hidden_sizes=(4,), purchase_head=True, gamma=0.5, double=False)
    policy = DQN(TWO, config, seed=0)
    trainer = policy._ensure_trainer(3, seed=0)  # a feature, then 2 values
    obs = np.array([[1.0, 0.5, 1.0], [0.0, 0.5, 1.0]])
    next_obs = np.array([[0.5, 0.5, 1.0], [1.0, 0.5, 1.0]])
    batch = ReplaySample(
        obs=obs,
        actions=np.array([1, 0]),
        rewards=np.array([3.0, 0.0]),
        next_obs=next_obs,
        terminated=np.array([False, True]),
        n_steps=np.ones(2, dtype=np.int64),
        purchased=np.array([True, False]),
    )
    loss = float(trainer.decomposed_loss(batch).item())
    # by hand, in numpy: the online network's parts at obs, the target network's Q at next_obs
    shapes = policy._shapes(3)
    (w1, b1), (w2, b2) = unpack(policy.params_, shapes)
    out = np.maximum(obs @ w1.T + b1, 0.0) @ w2.T + b2
    logits, continuation, log_scale = out[:, :2], out[:, 2:4], out[:, 4]
    q_next = q_forward(policy.target_params_, next_obs, shapes, False, False, True)
    p = sigmoid(logits[[0, 1], [1, 0]])
    bce = -np.mean([np.log(p[0]), np.log(1.0 - p[1])])
    c_target = np.array([0.5 * q_next[0].max(), 0.0])  # the reward 3 is not part of it
    c_loss = np.mean((continuation[[0, 1], [1, 0]] - c_target) ** 2)
    scale_loss = (log_scale[0] - np.log(3.0 / 1.0)) ** 2  # only the sale reveals the scale
    assert loss == pytest.approx(bce + c_loss + scale_loss, rel=1e-4)


class SaleEnv(gym.Env[Any, np.int64]):
    """One state, observed as ``[1, v_0, v_1]``: action ``a`` sells with probability ``p_a`` for
    ``list_price * v_a``; every step is truncated, so ``Q(a) = list_price * v_a * p_a + gamma * V``."""

    def __init__(self, p: tuple[float, float] = (0.8, 0.3), v: tuple[float, float] = (0.5, 1.0)) -> None:
        self.p, self.v, self.list_price = np.array(p), np.array(v), 2.0
        self.observation_space = gym.spaces.Box(0.0, 2.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> Any:
        return np.array([1.0, *self.v], dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        a = int(action)
        sold = bool(self.np_random.random() < self.p[a])
        reward = self.list_price * self.v[a] if sold else 0.0
        return self._obs(), float(reward), False, True, {"purchased": sold}

    def optimal_q(self, gamma: float) -> Any:
        immediate = self.list_price * self.v * self.p
        return immediate + gamma * immediate.max() / (1.0 - gamma)


def one_state_config(**changes: Any) -> DQNConfig:
    """A small DQN that learns a one-state, two-action env in a few thousand steps (gamma 0.5)."""
    base: dict[str, Any] = {
        "hidden_sizes": (8,),
        "learning_rate": 3e-3,
        "gamma": 0.5,
        "learning_starts": 50,
        "train_frequency": 1,
        "target_network_frequency": 50,
        "start_epsilon": 0.5,
        "epsilon": 0.5,
        "anneal_lr": True,
    }
    return DQNConfig(**(base | changes))


def test_purchase_decomposed_dqn_learns_purchase_odds_price_and_continuation() -> None:
    env = SaleEnv()
    config = one_state_config(batch_size=64, purchase_head=True)
    policy = DQN(TWO, config, seed=0)
    policy.learn(env, total_steps=3_000, seed=0)
    x = env._obs()[None, :].astype(np.float64)
    np.testing.assert_allclose(policy.q_values(x)[0], env.optimal_q(0.5), atol=0.1)  # (1.6, 1.4)
    trainer = policy._trainer
    assert trainer is not None
    np.testing.assert_allclose(policy.q_values(x), trainer.q_values(x), rtol=1e-5, atol=1e-5)
    logits, _, log_scale = trainer.online.parts(torch.as_tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(torch.sigmoid(logits).detach().numpy()[0], env.p, atol=0.05)
    assert float(torch.exp(log_scale).item()) == pytest.approx(2.0, rel=0.02)  # every sale reveals it
    np.testing.assert_array_equal(policy.greedy_actions(x), [0])


def test_purchase_decomposed_policy_trains_on_contexts_and_round_trips(
    market: pp.market.Market, tmp_path: Path
) -> None:
    policy = DQN(market.ladder, DQNConfig(**{**asdict(SMALL), "purchase_head": True}), seed=0)
    batch = market.observe(300)
    outcomes = market.step(batch, policy.act(batch.context))
    assert outcomes.purchased.any()
    policy.update(outcomes)
    trainer = policy._trainer
    assert trainer is not None
    np.testing.assert_array_equal(trainer.buffer.purchased[:300], outcomes.purchased)
    x = market.observe(20).context.observations()
    np.testing.assert_allclose(policy.q_values(x), trainer.q_values(x), rtol=1e-5, atol=1e-5)
    policy.save(tmp_path / "dqn")
    again = pp.policies.load(tmp_path / "dqn")
    assert isinstance(again, DQN)
    assert again.config == policy.config
    np.testing.assert_array_equal(again.q_values(x), policy.q_values(x))


def test_untrained_policy_prices_uniformly(market: pp.market.Market) -> None:
    policy = DQN(market.ladder)
    probs = policy.action_probabilities(market.observe(4).context)
    np.testing.assert_allclose(probs, 1.0 / market.n_actions)


SMALL = DQNConfig(hidden_sizes=(16,), learning_starts=32, batch_size=32, train_frequency=1)


@pytest.mark.parametrize("truncate", [True, False])
def test_truncation_bootstraps_and_termination_does_not(truncate: bool) -> None:
    env = OneStepEnv(rewards=(0.5, 1.0), truncate=truncate)
    config = one_state_config(batch_size=32)
    policy = DQN(TWO, config, seed=0)
    policy.learn(env, total_steps=1_500, seed=0)
    q = policy.q_values(np.zeros((1, 1)))[0]
    np.testing.assert_allclose(q, env.optimal_q(0.5), atol=0.1)  # truncated: (1.5, 2); terminated: (0.5, 1)


def test_n_step_dqn_with_standardised_inputs_learns_the_chain_and_serves_it_in_numpy() -> None:
    env = ChainEnv(n=5)
    config = DQNConfig(
        hidden_sizes=(16,),
        learning_rate=3e-3,
        gamma=0.9,
        n_steps=3,
        standardise_inputs=True,
        buffer_size=500,  # uncorrected n-step returns value the behaviour policy: keep recent, greedy steps
        learning_starts=100,
        batch_size=32,
        train_frequency=1,
        target_network_frequency=50,
        epsilon=0.0,
        exploration_fraction=0.5,
        anneal_lr=True,
    )
    policy = DQN(TWO, config, seed=0)
    policy.learn(env, total_steps=2_000, seed=0)
    trainer = policy._trainer
    assert trainer is not None
    assert trainer.standardised
    assert float(trainer.online.scale[0]) != 1.0  # the observation column was rescaled
    obs = (np.arange(4) / 4.0)[:, None]
    np.testing.assert_allclose(policy.q_values(obs), trainer.q_values(obs), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(policy.q_values(obs), env.optimal_q(0.9), atol=0.1)
    np.testing.assert_array_equal(policy.greedy_actions(obs), [1, 1, 1, 1])


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


def test_value_weighted_policy_trains_on_contexts_and_serves_the_trained_q_in_numpy(
    market: pp.market.Market,
) -> None:
    policy = DQN(market.ladder, DQNConfig(**{**asdict(SMALL), "value_weighted": True}), seed=0)
    batch = market.observe(300)
    policy.update(market.step(batch, policy.act(batch.context)))
    x = market.observe(20).context.observations()
    trainer = policy._trainer
    assert trainer is not None
    np.testing.assert_allclose(policy.q_values(x), trainer.q_values(x), rtol=1e-5, atol=1e-5)
    x_zero_values = x.copy()
    x_zero_values[:, -market.n_actions :] = 0.0  # Q = v * A + B: the B part alone
    assert not np.allclose(policy.q_values(x), policy.q_values(x_zero_values))


def test_reference_gaps_are_each_price_above_and_below_the_reference() -> None:
    x = np.array([[7.0, 0.05, 0.3, 0.6], [7.0, -0.3, 0.3, 0.6]])  # feature, reference, 2 values
    out = reference_gaps(x, 1, np.array([-0.1, 0.2]))
    # above (loss): max(log f - r, 0); below (gain): max(r - log f, 0); the values stay last
    np.testing.assert_allclose(
        out,
        [[7.0, 0.05, 0.0, 0.15, 0.15, 0.0, 0.3, 0.6], [7.0, -0.3, 0.2, 0.5, 0.0, 0.0, 0.3, 0.6]],
    )
    with pytest.raises(ValueError, match="one of the 2 features before the 2 values, got 2"):
        reference_gaps(x, 2, np.array([-0.1, 0.2]))


def test_policy_with_reference_gaps_serves_the_trained_q_in_numpy(market: pp.market.Market) -> None:
    config = DQNConfig(**{**asdict(SMALL), "reference_feature": 3, "value_weighted": True})
    policy = DQN(market.ladder, config, seed=0)
    batch = market.observe(300)
    policy.update(market.step(batch, policy.act(batch.context)))
    x = market.observe(20).context.observations()
    trainer = policy._trainer
    assert trainer is not None
    assert trainer.online.shift.shape == (x.shape[1] + 2 * market.n_actions,)
    np.testing.assert_allclose(policy.q_values(x), trainer.q_values(policy._inputs(x)), rtol=1e-5, atol=1e-5)
    too_far = DQN(market.ladder, DQNConfig(**{**asdict(SMALL), "reference_feature": x.shape[1] - 1}))
    with pytest.raises(ValueError, match=r"reference_feature 32 is not one of the 24 feature columns"):
        too_far.update(market.step(batch := market.observe(5), too_far.act(batch.context)))


def test_value_weighted_needs_a_value_column_per_action() -> None:
    policy = DQN(TWO, DQNConfig(hidden_sizes=(4,), value_weighted=True))
    with pytest.raises(ValueError, match="last 2 observation columns, but observations have 1"):
        policy.learn(OneStepEnv(), total_steps=10, seed=0)


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


def test_save_and_load_keep_the_new_options(tmp_path: Path) -> None:
    market = pp.market.make("reference-price", seed=0)
    config = DQNConfig(
        hidden_sizes=(8,),
        learning_starts=10,
        reference_feature=market.feature_names.index("visitor_reference_log_price"),
        value_weighted=True,
        standardise_inputs=True,
        n_steps=2,
    )
    policy = DQN(market.ladder, config, seed=0)
    batch = market.observe(200)
    policy.update(market.step(batch, policy.act(batch.context)))
    policy.save(tmp_path / "dqn")
    again = pp.policies.load(tmp_path / "dqn")
    assert isinstance(again, DQN)
    assert again.config == config
    x = market.observe(10).context.observations()
    np.testing.assert_array_equal(again.q_values(x), policy.q_values(x))


def test_learn_is_reproducible_from_its_seed() -> None:
    env = OneStepEnv()
    runs = [DQN(TWO, SMALL).learn(env, 200, seed=1) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].episode_returns, runs[1].episode_returns)
    first, second = DQN(TWO, SMALL), DQN(TWO, SMALL)
    first.learn(env, 200, seed=1)
    second.learn(env, 200, seed=1)
    np.testing.assert_array_equal(first.params_, second.params_)


def test_dqn_learns_a_small_inventory_season_to_95_percent_of_value_iteration() -> None:
    changes: dict[str, Any] = {"selling_periods": 10, "inventory_units": 3}
    env = gym.make("pricepilot/InventorySeason-v0", scenario="inventory-small", **changes)
    season = env.unwrapped.season  # type: ignore[attr-defined]
    assert season.config == pp.market.scenario("inventory-small").replace(**changes)
    optimum = float(season.solve()[0][-1, -1])
    dqn_config = DQNConfig(reward_scale=0.01, gamma=1.0, dueling=True, anneal_lr=True)
    policy = DQN(season.ladder, dqn_config, seed=0)
    policy.learn(env, total_steps=10_000, seed=0)
    assert _season_value(season, policy.greedy_actions) >= 0.95 * optimum
