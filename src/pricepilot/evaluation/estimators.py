"""Off-policy estimators: what a target policy would earn per round, estimated from logged rounds.

Every estimator has the form

    V = mean(direct) + mean(weighted) / mean(normaliser)

over per-row terms built from the importance weight ``w_i = pi_e(a_i | x_i) / pi_b(a_i | x_i)``, the
logged reward ``r_i``, and, where a reward model is used, its prediction for the logged action
``q_i = q(x_i, a_i)`` and its value under the target ``dm_i = sum_a pi_e(a | x_i) q(x_i, a)``:

==============  ====================  ================================  ==============
estimator       direct                weighted                          normaliser
==============  ====================  ================================  ==============
``dm``          ``dm``                --                                --
``ips``         --                    ``w r``                           --
``snips``       --                    ``w r``                           ``w``
``dr``          ``dm``                ``w (r - q)``                     --
``sndr``        ``dm``                ``w (r - q)``                     ``w``
``switch_dr``   ``dm``                ``1[w <= threshold] w (r - q)``   --
==============  ====================  ================================  ==============

(the formulas of Open Bandit Pipeline's estimators of the same names). Each estimator is a small
frozen dataclass that overrides one hook, ``_parts``; the value, its intervals and its diagnostics
follow from the parts alone:

- ``clip``: weights above it are clipped to it (``w <- min(w, clip)``) in every weighted term;
- the normal interval uses the delta-method influence of every row,
  ``psi_i = direct_i + R + (weighted_i - R * normaliser_i) / mean(normaliser)`` with
  ``R = mean(weighted) / mean(normaliser)``, whose mean is ``V`` and whose standard error is
  ``sd(psi) / sqrt(n)``. It treats the reward model as fixed (cross-fitting keeps its errors apart
  from the rows it predicts) and holds when ``n`` is large against the weights' tail (see
  :class:`Diagnostics`);
- the bootstrap interval is the percentile interval of ``V`` over rows resampled with replacement
  (the parts of each resample recombined, so the self-normalised ratio is recomputed each time).

The doubly robust family needs nothing more: the weighted residual carries the model's error into
``psi``. DM has no such term, so an interval that holds the model fixed misses DM's main error, the
model's own estimation error (measured on the simulator: 22-51% coverage instead of 95%). Given
``dm_draws`` (see :func:`.dm_refit_draws`: DM recomputed on bootstrap resamples with the reward model
refitted on each), DM's standard error is their standard deviation and its interval, of either kind,
the bootstrap standard-error interval ``V +- z * se``. Not a percentile interval, for two reasons
measured on the simulator's market (``benchmarks/RESULTS.md``): a few dozen refits estimate a standard
error well but not the 2.5% and 97.5% tails (the percentile interval of 50 refits covered 89% instead
of 95%), and the refits' mean drifts from ``V`` by about one standard error (a logistic model refitted
on resampled rows perturbs coefficients already perturbed once, and the sigmoid's curvature turns that
into a shift) while DM itself is nearly unbiased there, so a percentile interval sits off-centre.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from scipy.stats import norm

from pricepilot.data.logged import LoggedData
from pricepilot.evaluation.diagnostics import Diagnostics, UnreliableEstimateWarning, diagnose
from pricepilot.types import FloatArray, IntArray

Interval = Literal["normal", "bootstrap"]
SUM_TOLERANCE = 1e-6
_RESAMPLE_CELLS = 2_000_000  # rows x resamples held in memory at once


@dataclass(frozen=True, slots=True)
class OPEInputs:
    """Per-row arrays every estimator reads, each of shape (n,).

    Attributes
    ----------
    weights : importance weights ``pi_e(a_i | x_i) / pi_b(a_i | x_i)``, unclipped
    rewards : logged rewards ``r_i``
    target_logged : ``pi_e(a_i | x_i)``, the target's probability of the logged action
    q_logged : reward model's prediction for the logged action, or None without a model
    q_target : reward model's value under the target, ``sum_a pi_e(a | x_i) q(x_i, a)``, or None
    dm_draws : DM's value on bootstrap resamples with the reward model refitted on each, shape
        (n_resamples,), or None (see :func:`.dm_refit_draws`)
    """

    weights: FloatArray
    rewards: FloatArray
    target_logged: FloatArray
    q_logged: FloatArray | None
    q_target: FloatArray | None
    dm_draws: FloatArray | None = None

    @property
    def n(self) -> int:
        return int(self.weights.shape[0])


def prepare(
    logged: LoggedData,
    target_probs: FloatArray,
    reward_predictions: FloatArray | None = None,
    dm_draws: FloatArray | None = None,
) -> OPEInputs:
    """Check a target's probabilities (and a reward model's predictions) against the log; build the rows.

    Parameters
    ----------
    logged : LoggedData, ``n`` rounds
    target_probs : ndarray of shape (n, n_actions)
        The target policy's probability of every action in each logged round (for a ranked log, in
        that round's slot); rows sum to 1.
    reward_predictions : ndarray of shape (n, n_actions), optional
        Expected reward of every action in each round, from a (cross-fitted) reward model.
    dm_draws : ndarray of shape (n_resamples,), optional
        This target's DM value on resamples with the model refitted (:func:`.dm_refit_draws`); DM's
        interval then includes the model's own estimation error.
    """
    n, k = logged.n, logged.n_actions
    probs = np.asarray(target_probs, dtype=np.float64)
    if probs.shape != (n, k):
        raise ValueError(f"target_probs must have shape ({n}, {k}) (rounds, actions), got {probs.shape}")
    bad = np.flatnonzero(~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1))
    if bad.size:
        raise ValueError(f"target_probs row {bad[0]} is not a probability vector: {probs[bad[0]].tolist()}")
    sums = probs.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if bad.size:
        raise ValueError(f"target_probs row {bad[0]} sums to {sums[bad[0]]}, not 1")
    rows = np.arange(n)
    target_logged = probs[rows, logged.actions]
    q_logged = q_target = None
    if reward_predictions is not None:
        q = np.asarray(reward_predictions, dtype=np.float64)
        if q.shape != (n, k):
            raise ValueError(f"reward_predictions must have shape ({n}, {k}), got {q.shape}")
        if not np.isfinite(q).all():
            row = int(np.flatnonzero(~np.isfinite(q).all(axis=1))[0])
            raise ValueError(f"reward_predictions row {row} is not finite: {q[row].tolist()}")
        q_logged = q[rows, logged.actions]
        q_target = np.sum(probs * q, axis=1)
    draws = None
    if dm_draws is not None:
        draws = np.asarray(dm_draws, dtype=np.float64)
        if draws.ndim != 1 or draws.size < 2:
            raise ValueError(
                f"dm_draws must have shape (n_resamples,) with n_resamples >= 2, got {draws.shape}"
            )
        if not np.isfinite(draws).all():
            raise ValueError(f"dm_draws entry {int(np.flatnonzero(~np.isfinite(draws))[0])} is not finite")
    return OPEInputs(
        target_logged / logged.propensities, logged.rewards, target_logged, q_logged, q_target, draws
    )


@dataclass(frozen=True, slots=True)
class Parts:
    """The per-row terms of ``V = mean(direct) + mean(weighted) / mean(normaliser)``, shape (n,) each;
    None stands for a term that is zero (``direct``, ``weighted``) or one (``normaliser``)."""

    direct: FloatArray | None = None
    weighted: FloatArray | None = None
    normaliser: FloatArray | None = None

    def value_and_influence(self) -> tuple[float, FloatArray]:
        """The estimate and each row's influence ``psi`` (mean ``V``; see the module docstring)."""
        n = next(a for a in (self.direct, self.weighted, self.normaliser) if a is not None).shape[0]
        direct = self.direct if self.direct is not None else np.zeros(n)
        weighted = self.weighted if self.weighted is not None else np.zeros(n)
        if self.normaliser is None:
            psi = direct + weighted
            return float(psi.mean()), psi
        scale = float(self.normaliser.mean())
        if scale <= 0:
            return math.nan, np.full(n, math.nan)
        ratio = float(weighted.mean()) / scale
        psi = direct + ratio + (weighted - ratio * self.normaliser) / scale
        return float(direct.mean()) + ratio, psi

    def resampled(self, rows: IntArray) -> FloatArray:
        """``V`` on each resample of rows, ``rows`` of shape (n_resamples, n) -> shape (n_resamples,)."""
        out = np.zeros(rows.shape[0])
        if self.direct is not None:
            out += self.direct[rows].mean(axis=1)
        if self.weighted is not None:
            part = self.weighted[rows].mean(axis=1)
            if self.normaliser is not None:
                scale = self.normaliser[rows].mean(axis=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    part = np.where(scale > 0, part / scale, np.nan)
            out += part
        return out


def bootstrap_rows(n: int, n_resamples: int, seed: int) -> Iterator[IntArray]:
    """Rows resampled with replacement, in chunks of shape (chunk, n); seeded, so two estimators (or
    two policies) given the same seed see the same resamples (a paired bootstrap)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _RESAMPLE_CELLS // max(n, 1))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        yield rng.integers(n, size=(size, n))
        done += size


@dataclass(frozen=True, slots=True)
class Estimate:
    """An off-policy estimate of a target's value per round, with its interval and diagnostics.

    Attributes
    ----------
    estimator : name of the estimator
    value : estimated expected reward per round under the target (reward unit)
    ci_low, ci_high : the ``1 - alpha`` confidence interval
    std_error : standard error from the rows' influence (delta method)
    alpha : 1 - confidence level; interval : ``'normal'`` or ``'bootstrap'``
    diagnostics : Diagnostics
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    alpha: float
    interval: str
    diagnostics: Diagnostics

    def contains(self, truth: float) -> bool:
        """Whether ``truth`` lies inside the interval."""
        return bool(self.ci_low <= truth <= self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "std_error": self.std_error,
            "alpha": self.alpha,
            "interval": self.interval,
            "diagnostics": self.diagnostics.to_dict(),
        }


@dataclass(frozen=True)
class Estimator:
    """Base of the estimators (see the module docstring); subclasses override :meth:`_parts` only.

    Parameters
    ----------
    clip : weights above this are clipped to it (``inf``: no clipping)
    alpha : 1 - confidence level of the interval (0.05: a 95% interval)
    interval : ``'normal'`` (delta method) or ``'bootstrap'`` (percentile)
    n_bootstrap : resamples of the bootstrap interval
    seed : seeds the bootstrap's resampling
    min_ess : effective sample size below which the estimate is flagged as untrustworthy
    """

    clip: float = math.inf
    alpha: float = 0.05
    interval: Interval = "normal"
    n_bootstrap: int = 1000
    seed: int = 0
    min_ess: float = 100.0

    name: ClassVar[str] = "estimator"
    needs_reward_model: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.clip > 0:
            raise ValueError(f"clip must be > 0 (inf for no clipping), got {self.clip}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.interval not in ("normal", "bootstrap"):
            raise ValueError(f"interval must be 'normal' or 'bootstrap', got {self.interval!r}")
        if self.n_bootstrap < 10:
            raise ValueError(f"n_bootstrap must be at least 10, got {self.n_bootstrap}")

    def _parts(self, x: OPEInputs, w: FloatArray) -> Parts:
        """The per-row terms of this estimator, given the inputs and the clipped weights ``w``."""
        raise NotImplementedError

    def parts(self, inputs: OPEInputs) -> Parts:
        """This estimator's per-row terms on ``inputs`` (checks that a reward model is there if needed)."""
        if self.needs_reward_model and (inputs.q_logged is None or inputs.q_target is None):
            raise ValueError(
                f"{self.name} needs reward_predictions of shape (n, n_actions): fit a reward model, for "
                "example pricepilot.evaluation.RewardModel().fit_predict(logged)"
            )
        return self._parts(inputs, np.minimum(inputs.weights, self.clip))

    def estimate(
        self,
        logged: LoggedData,
        target_probs: FloatArray,
        reward_predictions: FloatArray | None = None,
    ) -> Estimate:
        """Estimate the value of the target policy whose action probabilities are ``target_probs``.

        Parameters
        ----------
        logged : LoggedData, ``n`` rounds
        target_probs : ndarray of shape (n, n_actions), the target's probabilities in each round
        reward_predictions : ndarray of shape (n, n_actions), needed by ``dm``, ``dr``, ``sndr`` and
            ``switch_dr``; cross-fitted predictions keep the interval honest

        Warns
        -----
        UnreliableEstimateWarning when the diagnostics say the estimate cannot be trusted.
        """
        return self.estimate_inputs(prepare(logged, target_probs, reward_predictions))

    def estimate_inputs(self, inputs: OPEInputs) -> Estimate:
        """:meth:`estimate` on prepared inputs (see :func:`prepare`)."""
        if inputs.n < 2:
            raise ValueError(f"off-policy estimation needs at least 2 logged rounds, got {inputs.n}")
        parts = self.parts(inputs)
        value, psi = parts.value_and_influence()
        refits = self._refit_draws(inputs)
        spread = psi.std(ddof=1) / math.sqrt(inputs.n) if refits is None else refits.std(ddof=1)
        se = float(spread)
        if self.interval == "normal" or refits is not None:  # refits: see the module docstring
            z = float(norm.ppf(1 - self.alpha / 2))
            low, high = value - z * se, value + z * se
        else:
            low, high = _percentiles(self.bootstrap(parts, inputs.n), self.alpha)
        diagnostics = diagnose(inputs.weights, inputs.target_logged, self.clip, self.min_ess)
        for message in diagnostics.warnings:
            warnings.warn(f"{self.name}: {message}", UnreliableEstimateWarning, stacklevel=3)
        return Estimate(self.name, value, low, high, se, self.alpha, self.interval, diagnostics)

    def _refit_draws(self, inputs: OPEInputs) -> FloatArray | None:
        """The estimate on resamples with the reward model refitted, when the estimator uses them."""
        return None

    def bootstrap(self, parts: Parts, n: int) -> FloatArray:
        """The estimate on ``n_bootstrap`` resamples of the rows, shape (n_bootstrap,)."""
        return np.concatenate(
            [parts.resampled(rows) for rows in bootstrap_rows(n, self.n_bootstrap, self.seed)]
        )


def _percentiles(draws: FloatArray, alpha: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class DirectMethod(Estimator):
    """DM: the reward model's value under the target, ``mean_i sum_a pi_e(a | x_i) q(x_i, a)``.

    Low variance, biased wherever the model is wrong. Its interval is honest only with the inputs'
    ``dm_draws`` (the model refitted on bootstrap resamples, :func:`.dm_refit_draws`;
    :func:`pricepilot.evaluation.evaluate_offline` supplies them); without them it holds the model
    fixed and is far too narrow.
    """

    name: ClassVar[str] = "dm"
    needs_reward_model: ClassVar[bool] = True

    def _parts(self, x: OPEInputs, w: FloatArray) -> Parts:
        return Parts(direct=x.q_target)

    def _refit_draws(self, inputs: OPEInputs) -> FloatArray | None:
        return inputs.dm_draws


@dataclass(frozen=True)
class IPS(Estimator):
    """Inverse propensity scoring: ``mean_i w_i r_i``. Unbiased with exact propensities (unclipped)."""

    name: ClassVar[str] = "ips"

    def _parts(self, x: OPEInputs, w: FloatArray) -> Parts:
        return Parts(weighted=w * x.rewards)


@dataclass(frozen=True)
class SNIPS(Estimator):
    """Self-normalised IPS: ``sum_i w_i r_i / sum_i w_i``; invariant to a constant shift of rewards."""

    name: ClassVar[str] = "snips"

    def _parts(self, x: OPEInputs, w: FloatArray) -> Parts:
        return Parts(weighted=w * x.rewards, normaliser=w)


@dataclass(frozen=True)
class DoublyRobust(Estimator):
    """DR: the model's value plus the weighted model residual, ``mean_i dm_i + w_i (r_i - q_i)``.
    Unbiased when either the propensities or the reward model are right."""

    name: ClassVar[str] = "dr"
    needs_reward_model: ClassVar[bool] = True

    def _parts(self, x: OPEInputs, w: FloatArray) -> Parts:
        assert x.q_target is not None
        assert x.q_logged is not None
        return Parts(direct=x.q_target, weighted=w * (x.rewards - x.q_logged))


@dataclass(frozen=True)
class SelfNormalizedDR(Estimator):
    """SNDR: DR with the residual term self-normalised, ``mean dm + sum w (r - q) / sum w``."""

    name: ClassVar[str] = "sndr"
    needs_reward_model: ClassVar[bool] = True

    def _parts(self, x: OPEInputs, w: FloatArray) -> Parts:
        assert x.q_target is not None
        assert x.q_logged is not None
        return Parts(direct=x.q_target, weighted=w * (x.rewards - x.q_logged), normaliser=w)


@dataclass(frozen=True)
class SwitchDR(Estimator):
    """Switch-DR (Wang et al. 2017): DR where the weight is at most ``threshold``, DM elsewhere.

    ``threshold`` trades the variance of large weights for the model's bias on their rows (infinite:
    plain DR). The default of 100 drops only rounds the logging policy was a hundred times less
    likely than the target to play.
    """

    threshold: float = 100.0
    name: ClassVar[str] = "switch_dr"
    needs_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        Estimator.__post_init__(self)
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")

    def _parts(self, x: OPEInputs, w: FloatArray) -> Parts:
        assert x.q_target is not None
        assert x.q_logged is not None
        keep = x.weights <= self.threshold
        return Parts(direct=x.q_target, weighted=np.where(keep, w * (x.rewards - x.q_logged), 0.0))


ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls for cls in (DirectMethod, IPS, SNIPS, DoublyRobust, SelfNormalizedDR, SwitchDR)
}


def available_estimators() -> list[str]:
    """Names of every estimator, in the order of the module docstring's table."""
    return list(ESTIMATORS)


def make_estimator(name: str, **options: Any) -> Estimator:
    """The estimator called ``name`` with its options (``clip``, ``alpha``, ``interval``, ...)."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; available: {available_estimators()}")
    try:
        return ESTIMATORS[name](**options)
    except TypeError as err:
        raise ValueError(f"estimator {name!r}: {err}") from None
