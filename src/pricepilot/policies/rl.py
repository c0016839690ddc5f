"""Reinforcement learning for the dynamic markets: tabular Q-learning and SARSA, and DQN.

Importing this module registers ``q_learning``, ``sarsa`` and ``dqn`` with :func:`pricepilot.policies.make`.
Each policy decides on ``ContextBatch`` features like any other, learns from outcomes as one-step
episodes (``update``), and trains on a Gymnasium environment with real transitions (``learn``).
"""

from __future__ import annotations

from pricepilot.policies.dqn import DQN, DQNConfig
from pricepilot.policies.tabular import (
    QLearning,
    QLearningConfig,
    Sarsa,
    SarsaConfig,
    TabularConfig,
    state_index,
)
from pricepilot.policies.td import (
    NStepQueue,
    NStepTransition,
    ReplayBuffer,
    ReplaySample,
    TrainingLog,
    continuation_target,
    double_next_values,
    epsilon_greedy,
    linear_schedule,
    max_next_values,
    n_step_return,
    sale_scale_targets,
    td_target,
)

__all__ = [
    "DQN",
    "DQNConfig",
    "NStepQueue",
    "NStepTransition",
    "QLearning",
    "QLearningConfig",
    "ReplayBuffer",
    "ReplaySample",
    "Sarsa",
    "SarsaConfig",
    "TabularConfig",
    "TrainingLog",
    "continuation_target",
    "double_next_values",
    "epsilon_greedy",
    "linear_schedule",
    "max_next_values",
    "n_step_return",
    "sale_scale_targets",
    "state_index",
    "td_target",
]
