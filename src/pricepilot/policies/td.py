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
    rewards: FloatArray,
    next_values: FloatArray,
    terminated: BoolArray,
    gamma: float,
    n_steps: IntArray | None = None,
) -> FloatArray:
    """TD target ``r + gamma**m * V(s')``, with ``V(s') = 0`` after termination.

    Parameters
    ----------
    rewards : ndarray of shape (n,), reward of each transition (objective units, possibly scaled); for an
        ``m``-step transition, the discounted sum of its ``m`` rewards (:func:`n_step_return`)
    next_values : ndarray of shape (n,), bootstrap value of each next state (the state ``m`` steps on)
    terminated : ndarray of shape (n,), bool; True where the next state is terminal. A truncated (time
        limit) transition is *not* terminated: it bootstraps.
    gamma : float in [0, 1], discount factor
    n_steps : ndarray of shape (n,), int, optional
        Steps ``m >= 1`` each transition spans (default: 1, the one-step target).

    Returns
    -------
    ndarray of shape (n,)
    """
    keep = 1.0 - np.asarray(terminated, dtype=np.float64)
    discount = gamma if n_steps is None else gamma ** np.asarray(n_steps, dtype=np.float64)
    return np.asarray(rewards, dtype=np.float64) + discount * keep * np.asarray(next_values, dtype=np.float64)


def continuation_target(next_values: FloatArray, terminated: BoolArray, gamma: float) -> FloatArray:
    """Target of a purchase-decomposed Q-network's continuation head: ``gamma * V(s')``, 0 after
    termination.

    The decomposed Q is ``E[r | s, a] + C(s, a)`` with the immediate expectation modelled exactly (purchase
    probability times the known value of a sale), so ``C`` learns only what follows the visit: the TD
    target with the reward left out (:func:`td_target` with zero rewards, one step).

    Parameters
    ----------
    next_values : ndarray of shape (n,), bootstrap value ``V(s')`` of each next state (full Q units)
    terminated : ndarray of shape (n,), bool; a truncated transition is not terminated: it bootstraps
    gamma : float in [0, 1]

    Returns
    -------
    ndarray of shape (n,)
    """
    return td_target(np.zeros(np.shape(next_values)), next_values, terminated, gamma)


def sale_scale_targets(
    rewards: FloatArray, values: FloatArray, purchased: BoolArray
) -> tuple[FloatArray, BoolArray]:
    """Log list price (in reward units) revealed by each sale: ``log(r / v)`` where a purchase earned
    ``r = list price * v`` for the chosen action's value ``v`` (over the list price).

    Parameters
    ----------
    rewards : ndarray of shape (n,), realised (scaled) rewards
    values : ndarray of shape (n,), the chosen action's value if bought over the list price
    purchased : ndarray of shape (n,), bool

    Returns
    -------
    targets : ndarray of shape (n,), ``log(r / v)`` where defined, else 0
    mask : ndarray of shape (n,), bool; True where the row reveals the scale (a purchase with ``r > 0`` and
        ``v > 0``)
    """
    r = np.asarray(rewards, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    mask = np.asarray(purchased, dtype=bool) & (r > 0) & (v > 0)
    targets = np.zeros(r.shape)
    targets[mask] = np.log(r[mask] / v[mask])
    return targets, mask


def n_step_return(rewards: FloatArray, gamma: float) -> float:
    """Discounted sum ``r_0 + gamma r_1 + ... + gamma**(m-1) r_(m-1)`` of ``m`` consecutive rewards."""
    r = np.asarray(rewards, dtype=np.float64)
    return float(np.sum(r * gamma ** np.arange(r.size, dtype=np.float64)))


class NStepTransition(NamedTuple):
    """An ``n_steps``-step transition: from ``obs`` and ``action``, the discounted reward sum, then
    ``next_obs``; ``terminated`` when the episode ended in a terminal state within those steps."""

    obs: FloatArray  # (d,)
    action: int
    reward: float
    next_obs: FloatArray  # (d,)
    terminated: bool
    n_steps: int


class NStepQueue:
    """Turns one-step transitions of one episode stream into ``n``-step transitions (Sutton & Barto 7.1).

    Each pushed step returns the transitions now complete: the one that started ``n`` steps ago, or,
    when the episode ends, every pending one -- truncated at the episode's end with fewer steps, and
    bootstrapping from the last ``next_obs`` unless the episode terminated. With ``n = 1`` every step
    comes straight back.

    Parameters
    ----------
    n : int >= 1, steps per transition
    gamma : float in [0, 1], discount factor of the summed rewards
    """

    def __init__(self, n: int, gamma: float) -> None:
        if n < 1:
            raise ValueError(f"n_steps must be >= 1, got {n}")
        self.n, self.gamma = int(n), float(gamma)
        self._pending: list[tuple[FloatArray, int, float]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def _emit(self, next_obs: FloatArray, terminated: bool) -> NStepTransition:
        obs, action, _ = self._pending[0]
        rewards = np.array([r for _, _, r in self._pending])
        m = len(self._pending)
        self._pending.pop(0)
        return NStepTransition(obs, action, n_step_return(rewards, self.gamma), next_obs, terminated, m)

    def push(
        self,
        obs: FloatArray,
        action: int,
        reward: float,
        next_obs: FloatArray,
        terminated: bool,
        truncated: bool,
    ) -> list[NStepTransition]:
        """Add one step; return the transitions it completes (in the order they started)."""
        self._pending.append((obs, int(action), float(reward)))
        if terminated or truncated:
            return [self._emit(next_obs, bool(terminated)) for _ in range(len(self._pending))]
        if len(self._pending) == self.n:
            return [self._emit(next_obs, False)]
        return []


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
    n_steps: IntArray  # (n,), steps each transition spans (1 for one-step transitions)
    purchased: BoolArray  # (n,), whether the visit sold (default: a nonzero reward)


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
        self.n_steps = np.ones(capacity, dtype=np.int64)
        self.purchased = np.zeros(capacity, dtype=bool)
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
        n_steps: IntArray | None = None,
        purchased: BoolArray | None = None,
    ) -> None:
        """Append ``n`` transitions: ``obs`` and ``next_obs`` of shape (n, d), the rest of shape (n,)
        (``n_steps``: steps each spans, default 1; ``purchased``: whether each visit sold, default where
        the reward is nonzero)."""
        n = len(actions)
        steps = np.ones(n, dtype=np.int64) if n_steps is None else np.asarray(n_steps, dtype=np.int64)
        sold = np.asarray(rewards) != 0 if purchased is None else np.asarray(purchased, dtype=bool)
        if n > self.capacity:
            obs, actions, rewards = (
                obs[-self.capacity :],
                actions[-self.capacity :],
                rewards[-self.capacity :],
            )
            next_obs, terminated = next_obs[-self.capacity :], terminated[-self.capacity :]
            steps, sold = steps[-self.capacity :], sold[-self.capacity :]
            n = self.capacity
        rows = (self._next + np.arange(n)) % self.capacity
        self.obs[rows] = obs
        self.next_obs[rows] = next_obs
        self.actions[rows] = actions
        self.rewards[rows] = rewards
        self.terminated[rows] = terminated
        self.n_steps[rows] = steps
        self.purchased[rows] = sold
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
            self.n_steps[rows],
            self.purchased[rows],
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
