"""Temporal-difference building blocks shared by the RL policies (tabular and DQN).

Pure functions that can be tested alone -- the TD target, the vanilla and Double-DQN bootstrap
values, the epsilon schedule, epsilon-greedy probabilities -- and the replay buffer and training log.

Termination and truncation (Gymnasium's 5-tuple): a transition into a terminal state has no future,
so its target is the reward alone; a transition cut off by a time limit (``truncated``) still has
one, so its target bootstraps from the next state's value. Only ``terminated`` is ever stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from pricepilot.policies.base import greedy_probabilities
from pricepilot.types import BoolArray, FloatArray, IntArray

if TYPE_CHECKING:
    import gymnasium as gym


def td_target(
    rewards: FloatArray, next_values: FloatArray, terminated: BoolArray, gamma: float
) -> FloatArray:
    """One-step TD target ``r + gamma * V(s')``, with ``V(s') = 0`` after termination.

    Parameters
    ----------
    rewards : ndarray of shape (n,), reward of each transition (objective units, possibly scaled)
    next_values : ndarray of shape (n,), bootstrap value of each next state
    terminated : ndarray of shape (n,), bool; True where the next state is terminal. A truncated (time
        limit) transition is *not* terminated: it bootstraps.
    gamma : float in [0, 1], discount factor

    Returns
    -------
    ndarray of shape (n,)
    """
    keep = 1.0 - np.asarray(terminated, dtype=np.float64)
    return np.asarray(rewards, dtype=np.float64) + gamma * keep * np.asarray(next_values, dtype=np.float64)


def max_next_values(q_next_target: FloatArray) -> FloatArray:
    """Vanilla DQN bootstrap: ``max_a Q_target(s', a)``, shape (n,) from Q of shape (n, n_actions)."""
    return np.asarray(q_next_target.max(axis=1), dtype=np.float64)


def double_next_values(q_next_online: FloatArray, q_next_target: FloatArray) -> FloatArray:
    """Double-DQN bootstrap: the target network's value of the online network's best next action.

    ``Q_target(s', argmax_a Q_online(s', a))`` (van Hasselt et al. 2016): selection and evaluation
    use different networks, which removes most of the max operator's upward bias.

    Parameters
    ----------
    q_next_online, q_next_target : ndarray of shape (n, n_actions)

    Returns
    -------
    ndarray of shape (n,)
    """
    best = np.argmax(q_next_online, axis=1)
    return np.asarray(q_next_target[np.arange(q_next_target.shape[0]), best], dtype=np.float64)


def linear_schedule(start: float, end: float, duration: float, step: int) -> float:
    """Value moving linearly from ``start`` (step 0) to ``end`` (step ``duration``), then constant."""
    if duration <= 0:
        return end
    return start + (end - start) * min(1.0, step / duration)


def epsilon_greedy(q: FloatArray, epsilon: float) -> FloatArray:
    """Exact epsilon-greedy probabilities over Q-values, ties split evenly.

    Parameters
    ----------
    q : ndarray of shape (n, n_actions)
    epsilon : float in [0, 1], share of choices made uniformly at random

    Returns
    -------
    ndarray of shape (n, n_actions), rows summing to 1
    """
    n_actions = q.shape[1]
    return np.asarray((1.0 - epsilon) * greedy_probabilities(q) + epsilon / n_actions, dtype=np.float64)


def check_epsilons(start_epsilon: float, epsilon: float, exploration_fraction: float) -> None:
    """Validate an exploration schedule's fields (shared by the RL configs)."""
    for name, value in (("start_epsilon", start_epsilon), ("epsilon", epsilon)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    if not 0 <= exploration_fraction <= 1:
        raise ValueError(f"exploration_fraction must lie in [0, 1], got {exploration_fraction}")


def check_env_spaces(env: gym.Env[Any, Any], n_actions: int) -> int:
    """Check a Gymnasium env has a flat Box observation and ``n_actions`` discrete actions.

    Returns
    -------
    int, the observation's length
    """
    obs_shape = getattr(env.observation_space, "shape", None)
    if obs_shape is None or len(obs_shape) != 1:
        raise ValueError(
            f"the env's observations must be flat vectors (a 1-D Box), got {env.observation_space}"
        )
    n = getattr(env.action_space, "n", None)
    if n is None or int(n) != n_actions:
        raise ValueError(
            f"the env must have Discrete({n_actions}) actions (one per ladder action), got {env.action_space}"
        )
    return int(obs_shape[0])


class ReplaySample(NamedTuple):
    """A minibatch of transitions (``n`` rows)."""

    obs: FloatArray  # (n, d)
    actions: IntArray  # (n,)
    rewards: FloatArray  # (n,)
    next_obs: FloatArray  # (n, d)
    terminated: BoolArray  # (n,)


class ReplayBuffer:
    """A circular buffer of transitions in preallocated numpy arrays; uniform sampling.

    Parameters
    ----------
    capacity : int, transitions kept (the oldest are overwritten)
    n_features : int, length ``d`` of an observation
    """

    def __init__(self, capacity: int, n_features: int) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.obs = np.zeros((capacity, n_features), dtype=np.float32)
        self.next_obs = np.zeros((capacity, n_features), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float64)
        self.terminated = np.zeros(capacity, dtype=bool)
        self.size = 0
        self._next = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: FloatArray,
        actions: IntArray,
        rewards: FloatArray,
        next_obs: FloatArray,
        terminated: BoolArray,
    ) -> None:
        """Append ``n`` transitions: ``obs`` and ``next_obs`` of shape (n, d), the rest of shape (n,)."""
        n = len(actions)
        if n > self.capacity:
            obs, actions, rewards = (
                obs[-self.capacity :],
                actions[-self.capacity :],
                rewards[-self.capacity :],
            )
            next_obs, terminated = next_obs[-self.capacity :], terminated[-self.capacity :]
            n = self.capacity
        rows = (self._next + np.arange(n)) % self.capacity
        self.obs[rows] = obs
        self.next_obs[rows] = next_obs
        self.actions[rows] = actions
        self.rewards[rows] = rewards
        self.terminated[rows] = terminated
        self._next = int((self._next + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplaySample:
        """``batch_size`` transitions drawn uniformly with replacement from what is stored."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        rows = rng.integers(self.size, size=batch_size)
        return ReplaySample(
            self.obs[rows].astype(np.float64),
            self.actions[rows],
            self.rewards[rows],
            self.next_obs[rows].astype(np.float64),
            self.terminated[rows],
        )


@dataclass(frozen=True)
class TrainingLog:
    """What a ``learn`` run did.

    Attributes
    ----------
    episode_returns : ndarray of shape (n_episodes,), undiscounted, unscaled return of each finished
        episode (objective units)
    episode_lengths : ndarray of shape (n_episodes,), steps of each finished episode
    steps : int, environment steps taken
    seconds : float, wall time of the run
    """

    episode_returns: FloatArray
    episode_lengths: IntArray
    steps: int
    seconds: float
