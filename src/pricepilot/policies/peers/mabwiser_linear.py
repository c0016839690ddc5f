"""MABWiser's linear contextual bandits (``LinUCB``, ``LinTS``) as PricePilot policies.

The arms are the ladder's action indices and each keeps its own ridge regression of the reward on the
visit features (:func:`pricepilot.policies.features.visit_features`, the same features every policy
gets). MABWiser fits no intercept of its own (its ridge starts from ``A = l2_lambda * I`` on the columns
it is given), so the leading constant column of the visit features is kept: it is each arm's intercept.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from scipy.special import ndtr

from pricepilot.policies.base import NotFittedError, PolicyBase, PolicyConfig, greedy_probabilities
from pricepilot.policies.features import visit_features
from pricepilot.policies.peers.common import (
    as_byte_array,
    check_reward_unit,
    learning_rewards,
    register_if_installed,
    require,
)
from pricepilot.types import ContextBatch, FloatArray, OutcomeBatch, PriceLadder

_ROWS_PER_CHUNK = 256
BREAKS = np.array([-5.0, -2.5, -1.0, 0.0, 1.0, 2.5, 5.0])
"""Where each arm's score distribution is cut for :func:`argmax_probabilities`, in standard deviations."""


@dataclass(frozen=True)
class LinearMABConfig(PolicyConfig):
    """Settings of MABWiser's per-arm ridge regressions.

    Attributes
    ----------
    alpha : float
        Exploration, in the unit of the rewards: LinUCB adds ``alpha * sqrt(x' A^-1 x)`` to each arm's
        predicted reward; LinTS draws the coefficients from ``N(beta, alpha**2 A^-1)``. MABWiser's
        default 1.0 assumes rewards with unit noise; a visit's reward in list prices has a standard
        deviation of about 0.13 on the e-commerce market, and 1.0 explores far too long there. The
        defaults (LinUCB 0.1, LinTS 0.025) are the best of 1, 0.25, 0.1, 0.05, 0.025 on a tuning run
        (seed 99, 100,000 visits, no benchmark seed); see benchmarks/RESULTS.md.
    l2_lambda : float
        Ridge penalty, ``A = l2_lambda * I + X'X`` (MABWiser's default 1.0).
    reward_unit : {'list_price', 'currency'}
        Unit of the reward each arm regresses (see ``peers.common.REWARD_UNITS``).

    MABWiser's ``scale`` option (a running standard scaler) is left off: the visit features are already
    on unit scales, and scaling would zero the constant column each arm needs as its intercept.
    """

    alpha: float = 0.1
    l2_lambda: float = 1.0
    reward_unit: str = "list_price"

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if not self.l2_lambda > 0:
            raise ValueError(f"l2_lambda must be positive, got {self.l2_lambda}")
        check_reward_unit(self.reward_unit)


@dataclass(frozen=True)
class LinTSConfig(LinearMABConfig):
    """LinTS settings; its action probabilities are integrated with ``nodes_per_cell`` Gauss-Legendre
    nodes per cell (see :func:`argmax_probabilities`)."""

    alpha: float = 0.025
    nodes_per_cell: int = 3

    def __post_init__(self) -> None:
        LinearMABConfig.__post_init__(self)
        if self.nodes_per_cell < 1:
            raise ValueError(f"nodes_per_cell must be at least 1, got {self.nodes_per_cell}")


def argmax_probabilities(mean: FloatArray, std: FloatArray, nodes_per_cell: int = 3) -> FloatArray:
    """Probability that each of ``k`` independent normal scores is the largest, for every row.

    ``P(a wins) = integral of pdf_a(t) * prod_{b != a} cdf_b(t) dt``, computed piecewise: the real line
    is cut at every arm's ``mean + std * BREAKS`` (so each cell is narrow on the scale of every arm,
    however different their spreads), each cell is integrated by Gauss-Legendre with ``nodes_per_cell``
    nodes, and above the last cut ``prod cdf_b = 1`` to within 3e-7. With 3 nodes the error is below
    1e-4 for any ratio of spreads (4 nodes: below 1e-5); each row is then renormalised to sum to 1.

    Parameters
    ----------
    mean, std : ndarray of shape (n, k)
        Mean and standard deviation of each arm's score; ``std`` must be positive.
    nodes_per_cell : int
        Gauss-Legendre nodes per cell.

    Returns
    -------
    ndarray of shape (n, k), rows summing to 1
    """
    if mean.shape != std.shape or mean.ndim != 2:
        raise ValueError(f"mean and std must have the same shape (n, k), got {mean.shape} and {std.shape}")
    if not np.all(std > 0):
        raise ValueError("every standard deviation must be positive")
    x, w = np.polynomial.legendre.leggauss(nodes_per_cell)
    out = np.empty_like(mean)
    for start in range(0, mean.shape[0], _ROWS_PER_CHUNK):
        mu = mean[start : start + _ROWS_PER_CHUNK]
        sd = std[start : start + _ROWS_PER_CHUNK]
        m = mu.shape[0]
        cuts = np.sort((mu[:, :, None] + sd[:, :, None] * BREAKS).reshape(m, -1), axis=1)
        half, mid = (cuts[:, 1:] - cuts[:, :-1]) / 2, (cuts[:, 1:] + cuts[:, :-1]) / 2
        t = (mid[:, :, None] + half[:, :, None] * x).reshape(m, -1)  # (m, T) integration nodes
        weights = (half[:, :, None] * w).reshape(m, -1)  # (m, T)
        z = (t[:, :, None] - mu[:, None, :]) / sd[:, None, :]  # (m, T, k)
        cdf = ndtr(z)
        pdf = np.exp(-0.5 * z**2) / (np.sqrt(2.0 * np.pi) * sd[:, None, :])
        out[start : start + _ROWS_PER_CHUNK] = np.einsum("mt,mtk->mk", weights, pdf * _leave_one_out(cdf))
        out[start : start + _ROWS_PER_CHUNK] += ndtr((mu - cuts[:, -1:]) / sd)  # above the last cut
    return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64)


def _leave_one_out(values: FloatArray) -> FloatArray:
    """``out[..., a] = prod_{b != a} values[..., b]``, without dividing (values may be 0)."""
    ones = np.ones_like(values[..., :1])
    before = np.cumprod(np.concatenate([ones, values[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, values[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.asarray(before * after, dtype=np.float64)


class _LinearMAB(PolicyBase):
    """A MABWiser ``MAB`` with one arm per ladder action behind the Policy protocol.

    The ``MAB`` is built by the first ``update`` (before it, every arm has the same prior and the
    probabilities are uniform). ``save`` pickles it into the uint8 array ``model_``; ``load`` unpickles
    it, so load only policy folders you trust.
    """

    config: LinearMABConfig

    def __init__(self, ladder: PriceLadder, config: LinearMABConfig | None = None, seed: int = 0) -> None:
        super().__init__(ladder, config, seed)
        self._mab_module = require("mabwiser.mab", self.name)
        self._mab: Any = None

    def _learning_policy(self) -> Any:
        raise NotImplementedError

    def update(self, outcomes: OutcomeBatch) -> None:
        """Fit the logged action's ridge regression on the visit features and the realised reward."""
        self._check_ladder(outcomes.contexts)
        X = visit_features(outcomes.contexts)
        rewards = learning_rewards(outcomes, self.config.reward_unit)
        if self._mab is None:
            arms = list(range(self.n_actions))
            self._mab = self._mab_module.MAB(arms, self._learning_policy(), seed=self.seed)
            self._mab.fit(outcomes.actions, rewards, X)
        else:
            self._mab.partial_fit(outcomes.actions, rewards, X)

    def _coefficients(self) -> tuple[FloatArray, FloatArray]:
        """Each arm's ridge coefficients, shape (k, p), and inverse Gram matrix, shape (k, p, p)."""
        models = [self._mab._imp.arm_to_model[a] for a in range(self.n_actions)]
        beta = np.stack([np.asarray(m.beta, dtype=np.float64) for m in models])
        a_inv = np.stack([np.asarray(m.A_inv, dtype=np.float64) for m in models])
        return beta, a_inv

    # ----------------------------------------------------------------- persistence
    def _state(self) -> dict[str, np.ndarray[Any, Any]]:
        state = super()._state()
        if self._mab is not None:
            state["model_"] = as_byte_array(pickle.dumps(self._mab, protocol=pickle.HIGHEST_PROTOCOL))
        return state

    @classmethod
    def _restore(cls, meta: dict[str, Any], state: dict[str, np.ndarray[Any, Any]]) -> Self:
        rest = {k: v for k, v in state.items() if k != "model_"}
        policy = super()._restore(meta, rest)
        if "model_" in state:
            policy._mab = pickle.loads(state["model_"].tobytes())  # a trusted policy folder (see above)
        return policy


@register_if_installed("mabwiser")
class MabLinUCB(_LinearMAB):
    """MABWiser ``LinUCB``: the arm with the highest upper confidence bound, ties split evenly."""

    name = "mab_linucb"
    Config = LinearMABConfig

    def _learning_policy(self) -> Any:
        cfg = self.config
        return self._mab_module.LearningPolicy.LinUCB(alpha=cfg.alpha, l2_lambda=cfg.l2_lambda)

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """One-hot on the arm MABWiser predicts (its highest bound), shape (n, n_actions); ties split."""
        self._check_ladder(contexts)
        if self._mab is None:
            return np.full((contexts.n, self.n_actions), 1.0 / self.n_actions)
        expectations = self._mab.predict_expectations(visit_features(contexts))
        if isinstance(expectations, dict):
            expectations = [expectations]
        scores = np.array([[row[a] for a in range(self.n_actions)] for row in expectations], dtype=float)
        return greedy_probabilities(scores)


@register_if_installed("mabwiser")
class MabLinTS(_LinearMAB):
    """MABWiser ``LinTS``: Thompson sampling from each arm's ridge posterior ``N(beta, alpha^2 A^-1)``.

    LinTS draws coefficients for every arm and context and takes the best arm. Given a context ``x``,
    independent draws make the arms' scores independent normals with mean ``x' beta_a`` and variance
    ``alpha^2 x' A_a^-1 x``, so the probability of each arm is computed (by quadrature, to within 1e-4,
    from MABWiser's fitted ``beta`` and ``A^-1``) rather than sampled: ``act`` samples from exactly
    these probabilities with the policy's generator and logs them, an exact propensity.

    MABWiser's own ``predict`` (2.7.4) does not draw the arms independently: fitting deep-copies each
    arm's model with its random generator, so arms fitted together hold generators in the same state
    and draw the same standard normals. This adapter follows LinTS as MABWiser documents it
    (independent posterior draws) and uses MABWiser for the posteriors only.
    """

    name = "mab_lints"
    Config = LinTSConfig
    config: LinTSConfig

    def _learning_policy(self) -> Any:
        cfg = self.config
        return self._mab_module.LearningPolicy.LinTS(alpha=cfg.alpha, l2_lambda=cfg.l2_lambda)

    def score_distribution(self, contexts: ContextBatch) -> tuple[FloatArray, FloatArray]:
        """Mean and standard deviation of each arm's sampled score, each of shape (n, n_actions)."""
        if self._mab is None:
            raise NotFittedError(f"{self.name} has learned nothing yet: call update first")
        X = visit_features(contexts)
        beta, a_inv = self._coefficients()
        mean = X @ beta.T
        var = np.einsum("np,kpq,nq->nk", X, a_inv, X, optimize=True)
        std = self.config.alpha * np.sqrt(np.maximum(var, 1e-300))
        return mean, std

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """Probability that MABWiser's LinTS picks each arm, shape (n, n_actions), rows summing to 1."""
        self._check_ladder(contexts)
        if self._mab is None:
            return np.full((contexts.n, self.n_actions), 1.0 / self.n_actions)
        mean, std = self.score_distribution(contexts)
        return argmax_probabilities(mean, std, self.config.nodes_per_cell)
