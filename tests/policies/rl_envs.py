"""Tiny Gymnasium environments with known optimal values, for the RL policies' tests."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

Obs = NDArray[np.float32]


class ChainEnv(gym.Env[Obs, np.int64]):
    """States ``0 .. n - 1`` on a line, starting at 0; action 1 moves right, action 0 moves left.

    Reaching the last state pays 1 and terminates. With discount ``gamma`` the optimal values are
    ``Q(s, right) = gamma ** (n - 2 - s)`` and ``Q(s, left) = gamma * Q(max(s - 1, 0), right)``.
    The observation is ``[s / (n - 1)]``.
    """

    def __init__(self, n: int = 5) -> None:
        self.n = n
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.s = 0

    def _obs(self) -> Obs:
        return np.array([self.s / (self.n - 1)], dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        super().reset(seed=seed)
        self.s = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        self.s = min(self.s + 1, self.n - 1) if int(action) == 1 else max(self.s - 1, 0)
        done = self.s == self.n - 1
        return self._obs(), float(done), done, False, {}

    def optimal_q(self, gamma: float) -> NDArray[np.float64]:
        """Optimal Q-values of the non-terminal states, shape (n - 1, 2)."""
        right = gamma ** (self.n - 2 - np.arange(self.n - 1, dtype=np.float64))
        left = gamma * right[np.maximum(np.arange(self.n - 1) - 1, 0)]
        return np.column_stack([left, right])


class OneStepEnv(gym.Env[Obs, np.int64]):
    """One state; action ``a`` pays ``rewards[a]``; every step ends the episode, by termination or by
    a time limit (truncation). With truncation the state's value keeps going: ``V = max r / (1 - gamma)``
    and ``Q(a) = r_a + gamma V``; with termination ``Q(a) = r_a``."""

    def __init__(self, rewards: tuple[float, ...] = (0.5, 1.0), truncate: bool = True) -> None:
        self.rewards = rewards
        self.truncate = truncate
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(len(rewards))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        reward = self.rewards[int(action)]
        return np.zeros(1, dtype=np.float32), reward, not self.truncate, self.truncate, {}

    def optimal_q(self, gamma: float) -> NDArray[np.float64]:
        r = np.asarray(self.rewards, dtype=np.float64)
        if not self.truncate:
            return r
        return r + gamma * r.max() / (1.0 - gamma)
