"""Deep Q-network (Mnih et al. 2015) with a target network, a replay buffer, and Double and Dueling options.

Training runs in torch (imported only when the policy learns); after training the weights are exported
to numpy (``params_``) and deciding is a pure numpy forward pass (:mod:`pricepilot.policies.mlp`).

- ``learn(env, total_steps, seed)`` runs the Gymnasium loop of CleanRL's ``dqn.py``: epsilon-greedy
  exploration on a linear schedule, a transition stored every step (``terminated`` kept, truncation
  bootstraps; with ``n_steps > 1`` an ``n``-step transition, cut short at the episode's end), optional
  input standardisation fixed before the first gradient step, a gradient step every
  ``train_frequency`` steps after ``learning_starts``, and a target
  update every ``target_network_frequency`` steps.
- ``update(outcomes)`` stores every outcome as a terminal one-step transition and trains on the same
  schedule, so the policy also runs as a neural contextual bandit behind the service.
- ``purchase_head`` (see :class:`DQNConfig`) splits Q into the expected immediate reward -- list price x
  P(buy) x the observed value of a sale, P fitted to the purchases like a bandit's demand model -- and a
  continuation learnt by TD; it is still one network, served by the same numpy forward pass.
- ``action_probabilities`` is epsilon-greedy over the Q-values: exact propensities. Before any
  training every Q-value is 0, so the policy prices uniformly at random.

Saved state: the online and target weights, the feature count and the step counter. The replay buffer
and Adam's moments are not saved: a reloaded policy decides exactly as the saved one, and resumes
learning with an empty buffer and a fresh optimiser.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pricepilot.policies.base import PolicyBase, PolicyConfig, register
from pricepilot.policies.mlp import layer_shapes, q_forward, reference_gaps
from pricepilot.policies.td import (
    NStepQueue,
    TrainingLog,
    check_env_spaces,
    check_epsilons,
    epsilon_greedy,
    linear_schedule,
)
from pricepilot.types import ContextBatch, FloatArray, IntArray, OutcomeBatch, PriceLadder

if TYPE_CHECKING:
    import gymnasium as gym

    from pricepilot.policies.dqn_torch import DQNTrainer


@dataclass(frozen=True)
class DQNConfig(PolicyConfig):
    """Hyper-parameters of DQN (named after CleanRL's ``dqn.py`` arguments).

    Network
    -------
    hidden_sizes : widths of the ReLU hidden layers.
    dueling : split the head into a state value and action advantages (Wang et al. 2016).
    value_weighted : the head's ``2 * n_actions`` outputs ``(A, B)`` give ``Q = v * A + B``, where ``v``
        is the observation's last ``n_actions`` columns: each action's value if bought over the list
        price, as ``ContextBatch.observations()`` and the market envs lay them out. A sale's value is
        known before pricing, so the network learns ``list_price * P(buy)`` and the future, not their
        product with the value (:func:`pricepilot.policies.mlp.value_weighted`). Not with ``dueling``.
    purchase_head : purchase-decomposed Q: ``Q(s, a) = L(s) * P(buy | s, a) * v_a + C(s, a)`` with ``v``
        the observation's last ``n_actions`` columns as for ``value_weighted``
        (:func:`pricepilot.policies.mlp.purchase_decomposed`). ``P`` is a sigmoid head fitted by binary
        cross-entropy to the observed purchases (``info["purchased"]`` in ``learn``, else a nonzero
        reward; ``outcomes.purchased`` in ``update``), ``L`` the list price in reward units, fitted to
        ``log(r / v_a)`` on the sales, and ``C`` the continuation, fitted by TD to ``gamma * V(s')``
        (:func:`pricepilot.policies.td.continuation_target`; Double-DQN's ``V`` with ``double``). The
        immediate term is then learnt as sample-efficiently as by a bandit's purchase model, and ``C``
        still learns how today's price moves tomorrow's demand. Not with ``dueling`` or
        ``value_weighted``; needs ``n_steps = 1``.
    reference_feature : index of the observation column holding the visitor's reference log price
        (relative to list price; ``None``: no such column). When set, the network also gets, for each
        ladder price, how far its log price lies above and below the reference
        (:func:`pricepilot.policies.mlp.reference_gaps`): the loss and gain terms of reference-price
        demand, which a ReLU network would otherwise have to place a kink for at each ladder price.

    Learning
    --------
    double : bootstrap with the target network's value of the online network's best action
        (van Hasselt et al. 2016) instead of the target network's maximum.
    learning_rate : Adam's step size.
    anneal_lr : in ``learn``, decay the step size linearly to 0 over the run (as CleanRL's PPO), so the
        last updates are small and the network settles instead of stopping on a noisy iterate (with
        noisy rewards the greedy action of the last iterate flips); ``update`` never anneals.
    buffer_size : transitions kept in the replay buffer.
    batch_size : transitions per gradient step.
    gamma : discount factor in [0, 1].
    n_steps : in ``learn``, bootstrap after this many steps (``n``-step Q-learning, Sutton & Barto
        7.1; Rainbow uses 3): the target is the discounted sum of the next ``n`` rewards plus
        ``gamma**n`` times the value ``n`` steps on (fewer steps at an episode's end). ``update``
        stores one-step terminal transitions whatever this is.
    standardise_inputs : standardise every observation column by its mean and sd over the replay
        buffer when the first gradient step is due (after ``learning_starts`` steps), fixed from then
        on and folded into the first layer for serving; without it, columns of very different spreads
        (one-hot flags, a reference log price within +-0.3) reach the network as they are.
    tau : target update rate (1: copy the online network).
    target_network_frequency : steps (transitions) between target updates.
    learning_starts : steps before the first gradient step.
    train_frequency : steps between gradient steps; gradient_steps : gradient steps each time.
    loss : ``'mse'`` (CleanRL) or ``'huber'`` (SB3; smooth L1 with threshold 1, which turns into a
        median-like absolute loss, hence biased, for scaled rewards and TD errors above 1).
    max_grad_norm : gradient norm clip.
    torch_threads : intra-op torch threads while training (small networks train fastest on one).
    reward_scale : rewards are multiplied by this for training (returns of order 1 train best); the
        Q-values reported by :meth:`DQN.q_values` are divided back into reward units.

    Exploration
    -----------
    start_epsilon, epsilon, exploration_fraction : ``learn`` explores with an epsilon moving linearly
        from ``start_epsilon`` to ``epsilon`` over the first ``exploration_fraction`` of its steps;
        ``epsilon`` is also the exploration when serving (``act``, ``action_probabilities``).
    """

    hidden_sizes: tuple[int, ...] = (64, 64)
    dueling: bool = False
    value_weighted: bool = False
    purchase_head: bool = False
    reference_feature: int | None = None
    double: bool = True
    learning_rate: float = 5e-4
    anneal_lr: bool = False
    buffer_size: int = 50_000
    batch_size: int = 64
    gamma: float = 0.99
    n_steps: int = 1
    standardise_inputs: bool = False
    tau: float = 1.0
    target_network_frequency: int = 500
    learning_starts: int = 1_000
    train_frequency: int = 4
    gradient_steps: int = 1
    loss: str = "mse"
    max_grad_norm: float = 10.0
    torch_threads: int = 1
    reward_scale: float = 1.0
    start_epsilon: float = 1.0
    epsilon: float = 0.05
    exploration_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.reference_feature is not None and self.reference_feature < 0:
            raise ValueError(f"reference_feature must be a column index >= 0, got {self.reference_feature}")
        if self.dueling and self.value_weighted:
            raise ValueError("dueling and value_weighted heads exclude each other: choose one")
        if self.purchase_head and (self.dueling or self.value_weighted):
            raise ValueError(
                "purchase_head excludes dueling and value_weighted heads, got "
                f"dueling={self.dueling}, value_weighted={self.value_weighted}"
            )
        if self.purchase_head and self.n_steps != 1:
            raise ValueError(
                f"purchase_head learns one-step continuations: n_steps must be 1, got {self.n_steps}"
            )
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be one or more widths >= 1, got {self.hidden_sizes}")
        for name in (
            "buffer_size",
            "batch_size",
            "target_network_frequency",
            "train_frequency",
            "gradient_steps",
            "torch_threads",
            "n_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_starts < 0:
            raise ValueError(f"learning_starts must be >= 0, got {self.learning_starts}")
        for name in ("learning_rate", "max_grad_norm", "reward_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
        if self.loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber', got {self.loss!r}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must lie in (0, 1], got {self.tau}")
        check_epsilons(self.start_epsilon, self.epsilon, self.exploration_fraction)


def _crossings(before: int, after: int, every: int, start: int) -> int:
    """How many multiples of ``every`` above ``start`` lie in ``(before, after]``."""
    low = max(before, start)
    return max(0, after // every - low // every) if after > start else 0


@register
class DQN(PolicyBase):
    """Deep Q-learning over ``contexts.observations()`` or env observations (see the module docstring)."""

    name = "dqn"
    Config = DQNConfig
    config: DQNConfig

    def __init__(self, ladder: PriceLadder, config: DQNConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self.params_: FloatArray = np.zeros(0)
        self.target_params_: FloatArray = np.zeros(0)
        self.n_features_: IntArray = np.zeros(1, dtype=np.int64)
        self.steps_: IntArray = np.zeros(1, dtype=np.int64)
        self._trainer: DQNTrainer | None = None

    @property
    def is_fitted(self) -> bool:
        return bool(self.params_.size)

    def _n_inputs(self, n_features: int) -> int:
        """Network inputs for observations of ``n_features`` columns (plus any reference gaps)."""
        return n_features + (2 * self.n_actions if self.config.reference_feature is not None else 0)

    def _inputs(self, x: FloatArray) -> FloatArray:
        """The network's inputs for observations ``x`` (n, d): ``x``, with any reference gaps added."""
        column = self.config.reference_feature
        if column is None:
            return x
        return reference_gaps(x, column, np.log(self.ladder.factors))

    def _shapes(self, n_features: int) -> list[tuple[int, int]]:
        cfg = self.config
        n_inputs = self._n_inputs(n_features)
        return layer_shapes(
            n_inputs, cfg.hidden_sizes, self.n_actions, cfg.dueling, cfg.value_weighted, cfg.purchase_head
        )

    # ----------------------------------------------------------------- deciding (numpy only)
    def q_values(self, features: FloatArray) -> FloatArray:
        """Q-values of every action, shape (n, n_actions), in reward units (0 before any training).

        Parameters
        ----------
        features : ndarray of shape (n, d), the visit features or env observations
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must have shape (n, d), got {x.shape}")
        if not self.is_fitted:
            return np.zeros((x.shape[0], self.n_actions))
        d = int(self.n_features_[0])
        if x.shape[1] != d:
            raise ValueError(f"{self.name} was trained on {d} features, got {x.shape[1]}")
        cfg = self.config
        q = q_forward(
            self.params_, self._inputs(x), self._shapes(d), cfg.dueling, cfg.value_weighted, cfg.purchase_head
        )
        return q / self.config.reward_scale

    def greedy_actions(self, features: FloatArray) -> IntArray:
        """The highest-valued action of each feature vector (lowest index on ties), shape (n,)."""
        return np.asarray(np.argmax(self.q_values(features), axis=1), dtype=np.int64)

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """Epsilon-greedy (``config.epsilon``) over the Q-values, shape (n, n_actions)."""
        self._check_ladder(contexts)
        return epsilon_greedy(self.q_values(contexts.observations()), self.config.epsilon)

    # ----------------------------------------------------------------- learning (torch, lazily)
    def _ensure_trainer(self, n_features: int, seed: int) -> DQNTrainer:
        fitted_on = int(self.n_features_[0])
        if fitted_on and n_features != fitted_on:
            raise ValueError(f"{self.name} was trained on {fitted_on} features, got {n_features}")
        if (self.config.value_weighted or self.config.purchase_head) and n_features < self.n_actions:
            raise ValueError(
                f"value_weighted and purchase_head need each action's value as the last {self.n_actions} "
                f"observation columns, but observations have {n_features}"
            )
        column = self.config.reference_feature
        if column is not None and column >= n_features - self.n_actions:
            raise ValueError(
                f"reference_feature {column} is not one of the {n_features - self.n_actions} feature "
                f"columns before the {self.n_actions} values"
            )
        if self._trainer is None:
            try:
                from pricepilot.policies.dqn_torch import DQNTrainer
            except ImportError as err:
                raise ImportError(
                    f"{self.name} trains with torch, which is not installed: pip install 'pricepilot[peers]' "
                    "(deciding with trained or loaded weights needs numpy only)"
                ) from err

            self._trainer = DQNTrainer(
                self.config,
                self._n_inputs(n_features),
                self.n_actions,
                self.params_,
                self.target_params_,
                seed,
            )
            self.n_features_ = np.array([n_features], dtype=np.int64)
            self._export()
        return self._trainer

    def _export(self) -> None:
        if self._trainer is not None:
            self.params_, self.target_params_ = self._trainer.export()

    def _advance(self, trainer: DQNTrainer, n_new: int, rng: np.random.Generator) -> None:
        """Count ``n_new`` stored transitions; run the gradient steps and target updates now due."""
        cfg = self.config
        before = int(self.steps_[0])
        after = before + n_new
        self.steps_ = np.array([after], dtype=np.int64)
        if len(trainer.buffer) == 0:
            return
        due = _crossings(before, after, cfg.train_frequency, cfg.learning_starts)
        if due and cfg.standardise_inputs and not trainer.standardised:
            trainer.standardise_inputs()
        for _ in range(due * cfg.gradient_steps):
            trainer.train_step(rng)
        if _crossings(before, after, cfg.target_network_frequency, cfg.learning_starts):
            trainer.sync_target()

    def update(self, outcomes: OutcomeBatch) -> None:
        """Store each outcome as a terminal one-step transition (target: its reward) and train."""
        self._check_ladder(outcomes.contexts)
        observations = outcomes.contexts.observations()
        trainer = self._ensure_trainer(observations.shape[1], self.seed)
        x = self._inputs(observations)
        trainer.buffer.add(
            x,
            outcomes.actions,
            outcomes.reward * self.config.reward_scale,
            x,
            np.ones(outcomes.n, bool),
            purchased=outcomes.purchased,
        )
        with trainer.threads():
            self._advance(trainer, outcomes.n, self.rng)
        self._export()

    def learn(self, env: gym.Env[Any, Any], total_steps: int, seed: int | None = None) -> TrainingLog:
        """Train on a Gymnasium env for ``total_steps`` environment steps, then export the weights.

        Parameters
        ----------
        env : gymnasium.Env with a 1-D Box observation (the features) and ``Discrete(n_actions)``
            actions (ladder indices)
        total_steps : int, environment steps (over as many episodes as they take)
        seed : int, optional
            Seeds the env's first ``reset``, the exploration and minibatch draws (numpy) and, if the
            network is new, its initialisation (torch); default: the policy's seed.

        Returns
        -------
        TrainingLog
        """
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        d = check_env_spaces(env, self.n_actions)
        seed = self.seed if seed is None else int(seed)
        rng = np.random.default_rng(seed)
        trainer = self._ensure_trainer(d, seed)
        start = time.perf_counter()
        with trainer.threads():
            returns, lengths = self._run(env, trainer, total_steps, seed, rng)
        self._export()
        return TrainingLog(
            np.asarray(returns), np.asarray(lengths, dtype=np.int64), total_steps, time.perf_counter() - start
        )

    def _run(
        self,
        env: gym.Env[Any, Any],
        trainer: DQNTrainer,
        total_steps: int,
        seed: int,
        rng: np.random.Generator,
    ) -> tuple[list[float], list[int]]:
        """The env loop of :meth:`learn`; returns each finished episode's return and length."""
        cfg = self.config
        duration = cfg.exploration_fraction * total_steps
        queue = NStepQueue(cfg.n_steps, cfg.gamma)
        returns: list[float] = []
        lengths: list[int] = []
        obs = self._inputs(np.asarray(env.reset(seed=seed)[0], dtype=np.float64)[None, :])[0]
        episode_return, episode_length = 0.0, 0
        for step in range(total_steps):
            eps = linear_schedule(cfg.start_epsilon, cfg.epsilon, duration, step)
            if cfg.anneal_lr:
                trainer.set_learning_rate(cfg.learning_rate * (1.0 - step / total_steps))
            if rng.random() < eps:
                action = int(rng.integers(self.n_actions))
            else:
                action = int(np.argmax(trainer.q_values(obs[None, :])[0]))
            next_obs, reward, terminated, truncated, info = env.step(action)
            next_obs = self._inputs(np.asarray(next_obs, dtype=np.float64)[None, :])[0]
            done = queue.push(
                obs, action, float(reward) * cfg.reward_scale, next_obs, bool(terminated), bool(truncated)
            )
            if done:
                trainer.buffer.add(
                    np.stack([t.obs for t in done]),
                    np.array([t.action for t in done]),
                    np.array([t.reward for t in done]),
                    np.stack([t.next_obs for t in done]),
                    np.array([t.terminated for t in done]),
                    np.array([t.n_steps for t in done]),
                    # one-step transitions (n_steps = 1, as purchase_head needs): ``done`` is this step
                    np.full(len(done), bool(info.get("purchased", reward != 0)))
                    if cfg.n_steps == 1
                    else None,
                )
            self._advance(trainer, 1, rng)
            episode_return += float(reward)
            episode_length += 1
            if terminated or truncated:
                returns.append(episode_return)
                lengths.append(episode_length)
                episode_return, episode_length = 0.0, 0
                obs = self._inputs(np.asarray(env.reset()[0], dtype=np.float64)[None, :])[0]
            else:
                obs = next_obs
        trainer.set_learning_rate(cfg.learning_rate)
        return returns, lengths
