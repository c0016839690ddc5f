"""Tabular Q-learning and SARSA on a discretised state.

The state of a visit is ``contexts.observations()`` (its features and the value of a sale at each
price, as the Gymnasium envs observe it). :func:`state_index` cuts chosen columns into uniform bins
between ``low`` and ``high`` (values outside are clipped into the end bins) and numbers the resulting
cell; the policies keep one row of Q-values per cell.

- ``update(outcomes)`` treats every outcome as a one-step episode (a terminal transition), so both
  policies also run as context-binned bandits behind the service.
- ``learn(env, total_steps, seed)`` runs the Gymnasium loop with real transitions, an epsilon schedule,
  and bootstrapping on truncation but not on termination.
- ``action_probabilities`` is epsilon-greedy over the Q-values (ties split evenly): exact propensities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pricepilot.policies.base import PolicyBase, PolicyConfig, register
from pricepilot.policies.td import (
    TrainingLog,
    check_env_spaces,
    check_epsilons,
    epsilon_greedy,
    linear_schedule,
)
from pricepilot.types import ContextBatch, FloatArray, IntArray, OutcomeBatch, PriceLadder

if TYPE_CHECKING:
    import gymnasium as gym

_FNV_PRIME = np.uint64(0x100000001B3)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)


@dataclass(frozen=True)
class TabularConfig(PolicyConfig):
    """Hyper-parameters of tabular TD control (Q-learning, SARSA).

    Discretisation
    --------------
    columns : feature columns that make the state (negative indices count from the end); empty: all.
    bins : uniform bins per column, >= 1.
    low, high : range cut into bins, one value for every column or one per column (a tuple as long as
        ``columns``); values outside are clipped into the first or last bin.
    max_states : table rows. When ``bins ** n_columns`` fits, every cell has its own row (exact);
        otherwise cells are hashed onto ``max_states`` rows (with all columns, by default, of a long
        feature vector).

    Learning
    --------
    gamma : discount factor in [0, 1].
    learning_rate : step size; with ``count_based_steps`` the n-th update of a state-action pair uses
        ``max(1 / n, learning_rate)`` (a running mean that settles to a constant step).
    initial_q : starting Q-value of every pair, in reward units (above the returns: optimistic).
    start_epsilon, epsilon, exploration_fraction : ``learn`` explores with an epsilon moving linearly
        from ``start_epsilon`` to ``epsilon`` over the first ``exploration_fraction`` of its steps;
        ``epsilon`` is also the exploration when serving (``act``, ``action_probabilities``).
    """

    columns: tuple[int, ...] = ()
    bins: int = 4
    low: float | tuple[float, ...] = -1.0
    high: float | tuple[float, ...] = 1.0
    max_states: int = 4096
    gamma: float = 0.99
    learning_rate: float = 0.1
    count_based_steps: bool = True
    initial_q: float = 0.0
    start_epsilon: float = 1.0
    epsilon: float = 0.05
    exploration_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise ValueError(f"bins must be >= 1, got {self.bins}")
        if self.max_states < 1:
            raise ValueError(f"max_states must be >= 1, got {self.max_states}")
        low, high = np.atleast_1d(self.low), np.atleast_1d(self.high)
        for name, arr in (("low", low), ("high", high)):
            if arr.size > 1 and arr.size != len(self.columns):
                raise ValueError(
                    f"{name} has {arr.size} values for {len(self.columns)} columns; give one value or one "
                    "per column"
                )
        if not np.all(np.isfinite(low)) or not np.all(np.isfinite(high)) or np.any(low >= high):
            raise ValueError(f"need finite low < high for every column, got low={self.low}, high={self.high}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must lie in (0, 1], got {self.learning_rate}")
        check_epsilons(self.start_epsilon, self.epsilon, self.exploration_fraction)

    @property
    def n_states(self) -> int:
        """Rows of the Q-table."""
        if self.columns and self.bins ** len(self.columns) <= self.max_states:
            return int(self.bins ** len(self.columns))
        return self.max_states


def state_index(features: FloatArray, config: TabularConfig) -> IntArray:
    """Table row of each feature vector: its cell in the grid of ``config``.

    Parameters
    ----------
    features : ndarray of shape (n, d)
    config : TabularConfig, the columns, bins, range and table size

    Returns
    -------
    ndarray of shape (n,), int64 in ``0 .. config.n_states - 1``. Cells number in mixed radix (first
    column fastest) when the grid fits the table, else by an FNV-1a hash of the bin numbers.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must have shape (n, d), got {x.shape}")
    d = x.shape[1]
    cols = np.asarray(config.columns if config.columns else range(d), dtype=np.int64)
    if cols.size and (cols.max() >= d or cols.min() < -d):
        raise ValueError(f"state columns {config.columns} do not fit feature vectors of length {d}")
    low, high = np.asarray(config.low, dtype=np.float64), np.asarray(config.high, dtype=np.float64)
    scaled = (x[:, cols] - low) / (high - low) * config.bins
    cells = np.clip(np.floor(scaled), 0, config.bins - 1).astype(np.int64)  # (n, k)
    k = cols.size
    if config.bins**k <= config.max_states:
        radix = config.bins ** np.arange(k, dtype=np.int64)
        return np.asarray(cells @ radix, dtype=np.int64)
    h = np.full(x.shape[0], _FNV_OFFSET, dtype=np.uint64)
    for j in range(k):
        h = (h ^ cells[:, j].astype(np.uint64)) * _FNV_PRIME
    return np.asarray(h % np.uint64(config.max_states), dtype=np.int64)


class _TabularTD(PolicyBase):
    """Q-table, step sizes, serving and the Gymnasium loop; subclasses choose the bootstrap value."""

    config: TabularConfig

    def __init__(self, ladder: PriceLadder, config: TabularConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        n_states = self.config.n_states
        self.q_: FloatArray = np.full((n_states, self.n_actions), float(self.config.initial_q))
        self.visits_: FloatArray = np.zeros((n_states, self.n_actions))

    # ----------------------------------------------------------------- deciding
    def states(self, features: FloatArray) -> IntArray:
        """Table row of each feature vector (``features`` of shape (n, d)), shape (n,)."""
        return state_index(features, self.config)

    def q_values(self, features: FloatArray) -> FloatArray:
        """Q-values of every action for each feature vector, shape (n, n_actions), reward units."""
        return np.asarray(self.q_[self.states(features)], dtype=np.float64)

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """Epsilon-greedy (``config.epsilon``) over the Q-values of each context's cell."""
        self._check_ladder(contexts)
        return epsilon_greedy(self.q_values(contexts.observations()), self.config.epsilon)

    def greedy_actions(self, features: FloatArray) -> IntArray:
        """The highest-valued action of each feature vector (lowest index on ties), shape (n,)."""
        return np.asarray(np.argmax(self.q_values(features), axis=1), dtype=np.int64)

    # ----------------------------------------------------------------- learning
    def _step_to(self, state: int, action: int, target: float) -> None:
        """Move ``Q[state, action]`` toward ``target`` by the pair's step size."""
        self.visits_[state, action] += 1.0
        alpha = self.config.learning_rate
        if self.config.count_based_steps:
            alpha = max(alpha, 1.0 / self.visits_[state, action])
        self.q_[state, action] += alpha * (target - self.q_[state, action])

    def update(self, outcomes: OutcomeBatch) -> None:
        """Learn from outcomes as one-step episodes: ``Q[s, a] <- Q[s, a] + alpha (reward - Q[s, a])``."""
        self._check_ladder(outcomes.contexts)
        states = self.states(outcomes.contexts.observations())
        for s, a, r in zip(states.tolist(), outcomes.actions.tolist(), outcomes.reward.tolist(), strict=True):
            self._step_to(s, a, r)

    def _explore(self, state: int, epsilon: float, rng: np.random.Generator) -> int:
        """Behaviour policy: uniform with probability ``epsilon``, else greedy with random tie-breaks."""
        if rng.random() < epsilon:
            return int(rng.integers(self.n_actions))
        q = self.q_[state]
        return int(rng.choice(np.flatnonzero(q >= q.max() - 1e-12)))

    def _bootstrap(self, state: int, epsilon: float, rng: np.random.Generator) -> tuple[float, int | None]:
        """Value of the next state for the TD target, and the next action if it was chosen here."""
        raise NotImplementedError

    def learn(self, env: gym.Env[Any, Any], total_steps: int, seed: int | None = None) -> TrainingLog:
        """Train on a Gymnasium env for ``total_steps`` environment steps.

        Parameters
        ----------
        env : gymnasium.Env with a 1-D Box observation (the features) and ``Discrete(n_actions)``
            actions (ladder indices)
        total_steps : int, environment steps (over as many episodes as they take)
        seed : int, optional
            Seeds the env's first ``reset`` and the exploration draws; default: the policy's seed.

        Returns
        -------
        TrainingLog
        """
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        check_env_spaces(env, self.n_actions)
        seed = self.seed if seed is None else int(seed)
        rng = np.random.default_rng(seed)
        cfg = self.config
        duration = cfg.exploration_fraction * total_steps
        start = time.perf_counter()
        returns: list[float] = []
        lengths: list[int] = []
        obs, _ = env.reset(seed=seed)
        state = int(self.states(np.asarray(obs)[None, :])[0])
        action = self._explore(state, cfg.start_epsilon, rng)
        episode_return, episode_length = 0.0, 0
        for step in range(total_steps):
            obs, reward, terminated, truncated, _ = env.step(action)
            next_state = int(self.states(np.asarray(obs)[None, :])[0])
            eps = linear_schedule(cfg.start_epsilon, cfg.epsilon, duration, step + 1)
            next_action: int | None = None
            target = float(reward)
            if not terminated:
                value, next_action = self._bootstrap(next_state, eps, rng)
                target += cfg.gamma * value
            self._step_to(state, action, target)
            episode_return += float(reward)
            episode_length += 1
            if terminated or truncated:
                returns.append(episode_return)
                lengths.append(episode_length)
                episode_return, episode_length = 0.0, 0
                obs, _ = env.reset()
                state = int(self.states(np.asarray(obs)[None, :])[0])
                action = self._explore(state, eps, rng)
            else:
                state = next_state
                action = next_action if next_action is not None else self._explore(state, eps, rng)
        return TrainingLog(
            np.asarray(returns), np.asarray(lengths, dtype=np.int64), total_steps, time.perf_counter() - start
        )


@dataclass(frozen=True)
class QLearningConfig(TabularConfig):
    """Hyper-parameters of tabular Q-learning (see :class:`TabularConfig`)."""


@register
class QLearning(_TabularTD):
    """Off-policy TD control: bootstraps on the best next action, ``max_a Q[s', a]`` (Watkins 1989)."""

    name = "q_learning"
    Config = QLearningConfig

    def _bootstrap(self, state: int, epsilon: float, rng: np.random.Generator) -> tuple[float, int | None]:
        return float(self.q_[state].max()), None


@dataclass(frozen=True)
class SarsaConfig(TabularConfig):
    """Hyper-parameters of tabular SARSA (see :class:`TabularConfig`)."""


@register
class Sarsa(_TabularTD):
    """On-policy TD control: bootstraps on the next action the behaviour policy actually takes.

    Under a time-limit truncation the next action is drawn from the behaviour policy for the target
    but not taken (the episode restarts).
    """

    name = "sarsa"
    Config = SarsaConfig

    def _bootstrap(self, state: int, epsilon: float, rng: np.random.Generator) -> tuple[float, int | None]:
        action = self._explore(state, epsilon, rng)
        return float(self.q_[state, action]), action
