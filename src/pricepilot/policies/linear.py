"""Linear contextual bandits on the purchase probability: LinUCB and linear Thompson sampling.

Each price action ``a`` has its own Bayesian linear regression of the purchase indicator on the visit
features ``z = [1, x]`` (disjoint models, Li et al. 2010)::

    A_a = lambda * I + sum z z^T        b_a = sum z * bought        theta_a = A_a^-1 b_a

and the policy scores an action by ``value_if_bought[a] * P(buy | a)`` -- the price and margin of a
sale are known at decision time, so only the purchase probability has to be learned. LinUCB adds an
upper confidence bonus; linear Thompson sampling draws each action's score from its posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.policies.base import PolicyBase, PolicyConfig, greedy_probabilities, register, win_counts
from pricepilot.policies.features import visit_features
from pricepilot.types import ContextBatch, FloatArray, OutcomeBatch, PriceLadder


@dataclass(frozen=True)
class LinearConfig(PolicyConfig):
    """Hyper-parameters of the per-action ridge regressions.

    ridge : prior precision ``lambda`` of each coefficient (ridge penalty), > 0.
    exploration : LinUCB's ``alpha`` (width of the confidence bonus in posterior sds) or, for
        Thompson sampling, the scale applied to the posterior sd (1: the Bayesian posterior).
    noise_sd : sd of the purchase indicator around its mean, for the posterior (0.5 bounds a Bernoulli).
    propensity_draws : Thompson sampling: posterior draws that estimate each action's probability.
    """

    ridge: float = 1.0
    exploration: float = 1.0
    noise_sd: float = 0.5
    propensity_draws: int = 256

    def __post_init__(self) -> None:
        for name in ("ridge", "noise_sd"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.exploration < 0:
            raise ValueError(f"exploration must be >= 0, got {self.exploration}")
        if self.propensity_draws < 1:
            raise ValueError(f"propensity_draws must be >= 1, got {self.propensity_draws}")


class _DisjointLinear(PolicyBase):
    """Shared state and updates of the per-action ridge regressions (state built on first use)."""

    config: LinearConfig

    def __init__(self, ladder: PriceLadder, config: LinearConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self.A_inv_: FloatArray = np.zeros((0, 0, 0))
        self.b_: FloatArray = np.zeros((0, 0))
        self.theta_: FloatArray = np.zeros((0, 0))
        self.n_updates_: FloatArray = np.zeros(1)

    def _ensure(self, p: int) -> None:
        if self.theta_.shape == (self.n_actions, p):
            return
        if self.theta_.size:
            raise ValueError(f"{self.name} was fitted on {self.theta_.shape[1]} features, got {p}")
        eye = np.eye(p) / self.config.ridge
        self.A_inv_ = np.repeat(eye[None], self.n_actions, axis=0)
        self.b_ = np.zeros((self.n_actions, p))
        self.theta_ = np.zeros((self.n_actions, p))

    def update(self, outcomes: OutcomeBatch) -> None:
        """Add the outcomes to each action's regression (rank-one updates for single outcomes)."""
        self._check_ladder(outcomes.contexts)
        z = visit_features(outcomes.contexts)
        self._ensure(z.shape[1])
        y = outcomes.purchased.astype(np.float64)
        for a in np.unique(outcomes.actions):
            rows = outcomes.actions == a
            za, ya = z[rows], y[rows]
            if za.shape[0] == 1:  # Sherman-Morrison
                v = self.A_inv_[a] @ za[0]
                self.A_inv_[a] -= np.outer(v, v) / (1.0 + za[0] @ v)
            else:
                A = np.linalg.inv(self.A_inv_[a]) + za.T @ za
                self.A_inv_[a] = np.linalg.inv(A)
            self.b_[a] += za.T @ ya
            self.theta_[a] = self.A_inv_[a] @ self.b_[a]
        self.n_updates_ += outcomes.n

    def _mean_and_sd(self, contexts: ContextBatch) -> tuple[FloatArray, FloatArray]:
        """Posterior mean and sd of P(buy) per context and action, each of shape (n, n_actions)."""
        self._check_ladder(contexts)
        z = visit_features(contexts)
        self._ensure(z.shape[1])
        mean = z @ self.theta_.T
        var = np.einsum("anq,nq->na", np.matmul(z[None], self.A_inv_), z)
        sd = self.config.noise_sd * np.sqrt(np.maximum(var, 0.0))
        return mean, sd


@register
class LinUCB(_DisjointLinear):
    """Prices by the upper confidence bound of ``value_if_bought * P(buy)`` (deterministic)."""

    name = "linucb"
    Config = LinearConfig

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        mean, sd = self._mean_and_sd(contexts)
        ucb = np.clip(mean + self.config.exploration * sd, 0.0, 1.0)
        return greedy_probabilities(ucb * contexts.value_if_bought)


@register
class LinTS(_DisjointLinear):
    """Linear Thompson sampling: each action's ``value_if_bought * P(buy)`` drawn from its posterior.

    The actions' posteriors are independent (disjoint models), so for one context the draw of each
    action's score is a normal with the posterior mean and sd of its linear predictor. The probability
    that each action wins is estimated from ``propensity_draws`` draws seeded by the policy's seed and
    state (a deterministic function of what it has learned); ``act`` samples from exactly these
    probabilities and logs them.
    """

    name = "lints"
    Config = LinearConfig

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        mean, sd = self._mean_and_sd(contexts)
        m = self.config.propensity_draws
        rng = np.random.default_rng([self.seed, int(self.n_updates_[0])])
        noise = rng.standard_normal((m, contexts.n, self.n_actions))
        draws = np.clip(mean[None] + self.config.exploration * sd[None] * noise, 0.0, None)
        winners = np.argmax(draws * contexts.value_if_bought[None], axis=2)
        counts = win_counts(winners, self.n_actions)
        probs = counts + 0.5 / self.n_actions  # keep every action possible, as under the posterior
        return np.asarray(probs / probs.sum(axis=1, keepdims=True), dtype=np.float64)
