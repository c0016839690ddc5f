"""Baseline policies: list price, uniform random (the logging policy), a fixed price (the best uniform
price when the oracle picks it), and context-free learners per price level (epsilon-greedy and
Beta-Bernoulli Thompson sampling)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.policies.base import PolicyBase, PolicyConfig, greedy_probabilities, register, win_counts
from pricepilot.types import ContextBatch, FloatArray, OutcomeBatch, PriceLadder


@dataclass(frozen=True)
class ListPriceConfig(PolicyConfig):
    """Always charge ``multiplier`` times list price (1.0: the list price itself)."""

    multiplier: float = 1.0


@register
class ListPrice(PolicyBase):
    """Charges the list price (or another fixed multiple of it) to everyone."""

    name = "list_price"
    Config = ListPriceConfig
    config: ListPriceConfig

    def __init__(self, ladder: PriceLadder, config: ListPriceConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self.action = ladder.index_of(self.config.multiplier)

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        probs = np.zeros((contexts.n, self.n_actions))
        probs[:, self.action] = 1.0
        return probs


@dataclass(frozen=True)
class FixedActionConfig(PolicyConfig):
    """Always take ladder action ``action``; ``label`` names the policy in reports."""

    action: int = 0
    label: str = "fixed"


@register
class FixedAction(PolicyBase):
    """One non-personalised price for everyone. With the oracle's choice, the best uniform price."""

    name = "fixed"
    Config = FixedActionConfig
    config: FixedActionConfig

    def __init__(self, ladder: PriceLadder, config: FixedActionConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        if not 0 <= self.config.action < ladder.n_actions:
            raise ValueError(f"action {self.config.action} is outside the ladder (0..{ladder.n_actions - 1})")
        self.version = f"{self.config.label}@1"

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        probs = np.zeros((contexts.n, self.n_actions))
        probs[:, self.config.action] = 1.0
        return probs


@dataclass(frozen=True)
class UniformRandomConfig(PolicyConfig):
    """No options: every action with probability 1 / n_actions."""


@register
class UniformRandom(PolicyBase):
    """Uniform over the ladder: the logging policy, with exact propensities."""

    name = "uniform_random"
    Config = UniformRandomConfig

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        return np.full((contexts.n, self.n_actions), 1.0 / self.n_actions)


class _PerLevelLearner(PolicyBase):
    """Counts offers and purchases per price level; scores actions by P(buy | level) x value if bought."""

    def __init__(self, ladder: PriceLadder, config: PolicyConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self.offers_ = np.zeros(self.n_actions)
        self.purchases_ = np.zeros(self.n_actions)

    def update(self, outcomes: OutcomeBatch) -> None:
        self._check_ladder(outcomes.contexts)
        k = self.n_actions
        self.offers_ += np.bincount(outcomes.actions, minlength=k)
        self.purchases_ += np.bincount(outcomes.actions, weights=outcomes.purchased, minlength=k)


@dataclass(frozen=True)
class EpsilonGreedyConfig(PolicyConfig):
    """``epsilon``: share of traffic explored uniformly; conversion estimates use a Beta(1, 1) prior."""

    epsilon: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"epsilon must lie in [0, 1], got {self.epsilon}")


@register
class EpsilonGreedy(_PerLevelLearner):
    """Greedy on the estimated reward of each price level, exploring uniformly with probability epsilon."""

    name = "epsilon_greedy"
    Config = EpsilonGreedyConfig
    config: EpsilonGreedyConfig

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        rate = (self.purchases_ + 1.0) / (self.offers_ + 2.0)
        greedy = greedy_probabilities(rate[None, :] * contexts.value_if_bought)
        eps = self.config.epsilon
        return (1.0 - eps) * greedy + eps / self.n_actions


@dataclass(frozen=True)
class ThompsonConfig(PolicyConfig):
    """Beta(``prior_a``, ``prior_b``) prior on each level's purchase rate; ``propensity_draws`` posterior
    draws estimate the probability of each action (for logging and off-policy evaluation)."""

    prior_a: float = 1.0
    prior_b: float = 1.0
    propensity_draws: int = 256

    def __post_init__(self) -> None:
        if self.prior_a <= 0 or self.prior_b <= 0:
            raise ValueError(f"Beta prior must be positive, got a={self.prior_a}, b={self.prior_b}")
        if self.propensity_draws < 1:
            raise ValueError(f"propensity_draws must be >= 1, got {self.propensity_draws}")


@register
class BetaThompson(_PerLevelLearner):
    """Beta-Bernoulli Thompson sampling per price level, pricing by argmax of draw x value if bought."""

    name = "thompson"
    Config = ThompsonConfig
    config: ThompsonConfig

    def _posterior(self) -> tuple[FloatArray, FloatArray]:
        return self.config.prior_a + self.purchases_, self.config.prior_b + self.offers_ - self.purchases_

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """Probability that a posterior draw makes each action best, shape (n, n_actions).

        Estimated from ``propensity_draws`` draws seeded by the policy's seed and state, so it is a
        deterministic function of what the policy has learned; ``act`` samples from exactly these
        probabilities and logs them as propensities. A floor of ``0.5 / propensity_draws`` keeps every
        action possible, as it is under the exact posterior.
        """
        a, b = self._posterior()
        m = self.config.propensity_draws
        rng = np.random.default_rng([self.seed, int(self.offers_.sum())])
        draws = rng.beta(a, b, size=(m, self.n_actions))
        scores = draws[:, None, :] * contexts.value_if_bought[None, :, :]
        probs = win_counts(np.argmax(scores, axis=2), self.n_actions) + 0.5
        return np.asarray(probs / probs.sum(axis=1, keepdims=True), dtype=np.float64)
