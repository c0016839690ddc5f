"""Logistic Thompson sampling: learn each visitor's demand curve, price by a posterior draw.

The purchase log-odds are linear in the visit features ``z = [1, x]`` and in their interaction with
the log price multiple ``log f_a`` (and a coupon flag), so every visitor and moment gets a demand curve
of its own::

    logit P(buy | z, a) = w1 . z + (w2 . z) * log f_a + w3 * coupon_a

The posterior over ``w`` is a Laplace approximation updated online, batch by batch (the previous
posterior is the prior of the next batch, a few Newton steps find the new mode, and the Hessian there
is the new precision). To price, draw ``w`` from the posterior and take the action that maximises
``value_if_bought[a] * P(buy | a)``: the classic learn-the-demand-curve approach, with Thompson sampling
doing the exploration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.policies.base import PolicyBase, PolicyConfig, register
from pricepilot.policies.features import visit_features
from pricepilot.types import ContextBatch, FloatArray, OutcomeBatch, PriceLadder


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def laplace_update(
    mean: FloatArray,
    precision: FloatArray,
    design: FloatArray,
    bought: FloatArray,
    newton_steps: int = 3,
    start: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """One online Laplace step of Bayesian logistic regression.

    Parameters
    ----------
    mean : ndarray of shape (D,), prior mean; precision : ndarray of shape (D, D), prior precision
    design : ndarray of shape (n, D); bought : ndarray of shape (n,), 0/1
    newton_steps : Newton iterations towards the posterior mode
    start : where the iterations start (default: the prior mean)

    Returns
    -------
    The posterior mode (D,) and the precision at the mode (D, D).
    """
    w = (mean if start is None else start).copy()
    for _ in range(newton_steps):
        p = _sigmoid(design @ w)
        grad = precision @ (w - mean) - design.T @ (bought - p)
        hessian = precision + (design * (p * (1.0 - p))[:, None]).T @ design
        w = w - np.linalg.solve(hessian, grad)
    p = _sigmoid(design @ w)
    hessian = precision + (design * (p * (1.0 - p))[:, None]).T @ design
    return w, hessian


@dataclass(frozen=True)
class LogisticTSConfig(PolicyConfig):
    """Hyper-parameters of logistic Thompson sampling.

    prior_precision : precision of the zero-mean normal prior on every coefficient.
    exploration : scale of the posterior sd used for the draws (1: the Laplace posterior).
    newton_steps : Newton iterations per update batch.
    posterior_draws : posterior draws kept after each update. Acting picks one of them at random and
        prices greedily under it; an action's probability is the share of draws under which it wins
        (plus a small floor), so propensities are exact for the behaviour and cheap to compute.
    """

    prior_precision: float = 1.0
    exploration: float = 1.0
    newton_steps: int = 3
    posterior_draws: int = 32

    def __post_init__(self) -> None:
        if self.prior_precision <= 0:
            raise ValueError(f"prior_precision must be > 0, got {self.prior_precision}")
        if self.exploration < 0:
            raise ValueError(f"exploration must be >= 0, got {self.exploration}")
        if self.newton_steps < 1 or self.posterior_draws < 1:
            raise ValueError("newton_steps and posterior_draws must be >= 1")


@register
class LogisticTS(PolicyBase):
    """Thompson sampling over a Bayesian logistic demand model (see the module docstring)."""

    name = "logistic_ts"
    Config = LogisticTSConfig
    config: LogisticTSConfig

    def __init__(self, ladder: PriceLadder, config: LogisticTSConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self._log_factors = np.log(ladder.factors)
        self._coupon = ladder.is_coupon.astype(np.float64)
        self._has_coupon = bool(self._coupon.any())
        self.mean_: FloatArray = np.zeros(0)
        self.precision_: FloatArray = np.zeros((0, 0))
        self.chol_: FloatArray = np.zeros((0, 0))
        self.n_updates_: FloatArray = np.zeros(1)
        self._draws: tuple[FloatArray, FloatArray] | None = None

    def _ensure(self, p: int) -> None:
        dim = 2 * p + 1
        if self.mean_.size == dim:
            return
        if self.mean_.size:
            raise ValueError(f"{self.name} was fitted on {(self.mean_.size - 1) // 2} features, got {p}")
        self.mean_ = np.zeros(dim)
        self.precision_ = self.config.prior_precision * np.eye(dim)
        self.chol_ = np.eye(dim) / np.sqrt(self.config.prior_precision)

    def _visit(self, contexts: ContextBatch) -> FloatArray:
        """The visit representation ``z`` that the demand model is linear in, shape (n, p)."""
        return visit_features(contexts)

    def design(self, z: FloatArray, actions: FloatArray) -> FloatArray:
        """Rows ``[z, z * log f_a, coupon_a]`` for visit features ``z`` (n, p) and actions (n,)."""
        a = actions.astype(np.int64)
        return np.hstack([z, z * self._log_factors[a, None], self._coupon[a, None]])

    def update(self, outcomes: OutcomeBatch) -> None:
        self._check_ladder(outcomes.contexts)
        z = self._visit(outcomes.contexts)
        self._ensure(z.shape[1])
        design = self.design(z, outcomes.actions.astype(np.float64))
        self.mean_, self.precision_ = laplace_update(
            self.mean_,
            self.precision_,
            design,
            outcomes.purchased.astype(np.float64),
            self.config.newton_steps,
        )
        # Cholesky factor of the covariance: cov = inv(P) = L L^T with L = inv(chol(P))^T.
        upper = np.linalg.cholesky(self.precision_)
        self.chol_ = np.linalg.inv(upper).T
        self.n_updates_ += outcomes.n
        self._draws = None

    def _posterior_draws(self) -> tuple[FloatArray, FloatArray]:
        """The kept posterior draws: visit weights (p, 2 * m), level and slope side by side, and
        coupon weights (m,). Drawn from a generator seeded by the policy's seed and state, so they are
        a deterministic function of what the policy has learned (and survive save and load)."""
        if self._draws is None:
            m = self.config.posterior_draws
            rng = np.random.default_rng([self.seed, int(self.n_updates_[0])])
            noise = rng.standard_normal((m, self.mean_.size))
            weights = self.mean_[None, :] + self.config.exploration * noise @ self.chol_.T
            p = (self.mean_.size - 1) // 2
            visit = np.ascontiguousarray(np.hstack([weights[:, :p].T, weights[:, p : 2 * p].T]))
            self._draws = (visit, weights[:, 2 * p].copy())
        return self._draws

    def purchase_probabilities(self, contexts: ContextBatch, weights: FloatArray) -> FloatArray:
        """P(buy) of every action under each weight vector: weights (m, D) -> shape (n, m, n_actions)."""
        z = self._visit(contexts)
        p = z.shape[1]
        visit = np.hstack([weights[:, :p].T, weights[:, p : 2 * p].T])
        return self._probabilities(z, visit, weights[:, 2 * p])

    def purchase_probabilities_of(self, contexts: ContextBatch) -> FloatArray:
        """P(buy) of every action under the posterior mean, shape (n, n_actions) (:class:`PurchaseModel`).

        A point estimate: no draw is taken and nothing is changed (an unfitted policy answers with
        its prior mean, 0.5 everywhere), so acting afterwards decides as it would have.
        """
        self._check_ladder(contexts)
        z = self._visit(contexts)
        dim = 2 * z.shape[1] + 1
        if self.mean_.size not in (0, dim):
            raise ValueError(
                f"{self.name} was fitted on {(self.mean_.size - 1) // 2} features, got {z.shape[1]}"
            )
        mean = self.mean_ if self.mean_.size else np.zeros(dim)
        # purchase_probabilities of the one weight vector ``mean``, without building the visit twice
        p = z.shape[1]
        visit = np.ascontiguousarray(mean[: 2 * p].reshape(2, p).T)
        return self._probabilities(z, visit, mean[2 * p :])[:, 0, :]

    def _probabilities(self, z: FloatArray, visit: FloatArray, coupon: FloatArray) -> FloatArray:
        """P(buy) of every action for visit features ``z`` (n, p) under ``m`` weight vectors, given as
        visit weights (p, 2 * m) (levels, then slopes) and coupon weights (m,): shape (n, m, n_actions).
        """
        m = coupon.size
        both = z @ visit
        logit = both[:, m:, None] * self._log_factors
        logit += both[:, :m, None]
        if self._has_coupon:
            logit += coupon[None, :, None] * self._coupon
        # _sigmoid, in place: 0.5 * (1 + tanh(0.5 * logit))
        logit *= 0.5
        np.tanh(logit, out=logit)
        logit += 1.0
        logit *= 0.5
        return logit

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """Share of the kept posterior draws under which each action is best, shape (n, n_actions).

        A small floor keeps every action possible, as it is under the exact posterior.
        """
        self._check_ladder(contexts)
        z = self._visit(contexts)
        self._ensure(z.shape[1])
        visit, coupon = self._posterior_draws()
        m, k, n = coupon.size, self.n_actions, contexts.n
        both = z @ visit
        counts = self._win_counts(both, coupon, contexts.value_if_bought)
        floor = 0.5 / k
        out = np.empty((n, k))
        np.add(counts.T, floor, out=out)
        out /= m + k * floor
        return out

    def _win_counts(self, both: FloatArray, coupon: FloatArray, value: FloatArray) -> FloatArray:
        """How many of the ``m`` draws each action wins for each visit, shape (n_actions, n), from the
        draws' levels and slopes ``both`` (n, 2 * m), coupon weights (m,) and ``value_if_bought``
        (n, n_actions). An action wins a draw when ``value / (1 + exp(-logit))`` is largest there (the
        first such action on a tie).

        Computed action-major, shape (n_actions, n, m), so every step runs on whole contiguous
        arrays: the values are those of :meth:`_win_counts_plain`, operation for operation (negating
        first is exact). A tie or a NaN, which this counting cannot split as ``argmax`` does, sends
        the batch to :meth:`_win_counts_plain`.
        """
        n, m, k = both.shape[0], coupon.size, self.n_actions
        level, slope = both.reshape(n, 2, m).transpose(1, 0, 2).copy()  # each (n, m), contiguous
        neg = np.multiply.outer(-self._log_factors, slope)  # -(logit), action-major
        neg -= level
        if self._has_coupon:
            neg -= self._coupon[:, None, None] * coupon
        np.exp(neg, out=neg)
        neg += 1.0
        score = np.divide(value.T[:, :, None], neg, out=neg)
        best = np.maximum.reduce(score, axis=0)
        won = np.equal(score, best, out=score)  # 1.0 where the action's score is the draw's best
        counts = (won.reshape(k * n, m) @ np.ones(m)).reshape(k, n)  # sums of 0s and 1s: exact
        if np.add.reduce(counts, axis=None) != n * m or np.isnan(best).any():
            return self._win_counts_plain(both, coupon, value)
        return counts

    def _win_counts_plain(self, both: FloatArray, coupon: FloatArray, value: FloatArray) -> FloatArray:
        """:meth:`_win_counts` by ``argmax`` over the actions, shape (n_actions, n)."""
        n, m, k = both.shape[0], coupon.size, self.n_actions
        logit = both[:, :m, None] + both[:, m:, None] * self._log_factors
        if self._has_coupon:
            logit += coupon[None, :, None] * self._coupon
        # value * sigmoid(logit) = value / (1 + exp(-logit)), computed in place
        np.negative(logit, out=logit)
        np.exp(logit, out=logit)
        logit += 1.0
        winners = np.argmax(value[:, None, :] / logit, axis=2)  # (n, m)
        flat = (winners + (np.arange(n) * k)[:, None]).ravel()
        return np.bincount(flat, minlength=n * k).reshape(n, k).T.astype(np.float64)
