"""The promotion gate: a candidate policy replaces the current one only when the logs show it is better.

Both policies are estimated on the same logged rounds with the same estimator (doubly robust by
default) and the same cross-fitted reward model. The candidate is promoted only when all three hold:

1. the lower bound of the candidate's ``1 - alpha`` interval is above the current policy's estimated
   value plus ``margin`` (the candidate's worst plausible value beats what the current one earns);
2. the lower bound of the ``1 - alpha`` interval of the difference ``V(candidate) - V(current)``,
   estimated on the same rounds (paired: each round's influence on the two estimates is subtracted, or
   both are recomputed on the same bootstrap resamples), is above ``margin``; this is the condition
   whose error rate the level controls, since the two estimates share their noise;
3. the candidate's estimate is trustworthy (no diagnostic warning: enough effective sample size, no
   round dominating the weights).

The same check backs the service's promote route (``check_promotion`` takes two policies and a log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.stats import norm

from pricepilot.data.logged import LoggedData
from pricepilot.evaluation.estimators import (
    Estimate,
    Interval,
    bootstrap_rows,
    make_estimator,
    prepare,
)
from pricepilot.evaluation.reward_model import RewardModel
from pricepilot.types import ContextBatch, FloatArray


class Scorable(Protocol):
    """What the gate needs of a policy: its probability of every action in each context."""

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        """Shape (n, n_actions), rows summing to 1."""
        ...


@dataclass(frozen=True)
class GateConfig:
    """How the gate decides (see the module docstring).

    estimator : name of the estimator (``'dr'``, ``'sndr'``, ``'snips'``, ...).
    alpha : 1 - confidence level of both lower bounds (two-sided intervals: 0.05 gives 95%).
    interval : ``'normal'`` (delta method) or ``'bootstrap'`` (percentile, paired resamples).
    margin : the least gain per round, in reward units, that the candidate must show.
    clip, min_ess, n_bootstrap, seed : passed to the estimator.
    """

    estimator: str = "dr"
    alpha: float = 0.05
    interval: Interval = "normal"
    margin: float = 0.0
    clip: float = math.inf
    min_ess: float = 100.0
    n_bootstrap: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        make_estimator(self.estimator, **self._options())  # validates every option

    def _options(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "interval": self.interval,
            "clip": self.clip,
            "min_ess": self.min_ess,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict, with the evidence.

    Attributes
    ----------
    promote : bool
    candidate, current : Estimate of each policy's value per round
    difference, difference_low, difference_high : estimated gain of the candidate over the current
        policy per round and its paired ``1 - alpha`` interval
    reasons : why the gate decided as it did, one sentence per condition
    """

    promote: bool
    candidate: Estimate
    current: Estimate
    difference: float
    difference_low: float
    difference_high: float
    margin: float
    reasons: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "candidate": self.candidate.to_dict(),
            "current": self.current.to_dict(),
            "difference": self.difference,
            "difference_low": self.difference_low,
            "difference_high": self.difference_high,
            "margin": self.margin,
            "reasons": list(self.reasons),
        }


def promotion_gate(
    logged: LoggedData,
    candidate_probs: FloatArray,
    current_probs: FloatArray,
    reward_predictions: FloatArray | None = None,
    config: GateConfig | None = None,
) -> GateDecision:
    """Decide whether the candidate may replace the current policy, from logged rounds.

    Parameters
    ----------
    logged : LoggedData, ``n`` rounds
    candidate_probs, current_probs : ndarray of shape (n, n_actions), each policy's probabilities
    reward_predictions : ndarray of shape (n, n_actions), cross-fitted, needed by model-based estimators
    config : GateConfig
    """
    cfg = config if config is not None else GateConfig()
    estimator = make_estimator(cfg.estimator, **cfg._options())
    cand_in = prepare(logged, candidate_probs, reward_predictions)
    curr_in = prepare(logged, current_probs, reward_predictions)
    cand, curr = estimator.estimate_inputs(cand_in), estimator.estimate_inputs(curr_in)
    cand_parts, curr_parts = estimator.parts(cand_in), estimator.parts(curr_in)
    v_cand, psi_cand = cand_parts.value_and_influence()
    v_curr, psi_curr = curr_parts.value_and_influence()
    diff = v_cand - v_curr
    if cfg.interval == "normal":
        se = float(np.std(psi_cand - psi_curr, ddof=1) / math.sqrt(logged.n))
        z = float(norm.ppf(1 - cfg.alpha / 2))
        low, high = diff - z * se, diff + z * se
    else:
        draws = np.concatenate(
            [
                cand_parts.resampled(rows) - curr_parts.resampled(rows)
                for rows in bootstrap_rows(logged.n, cfg.n_bootstrap, cfg.seed)
            ]
        )
        finite = draws[np.isfinite(draws)]
        low, high = (float(q) for q in np.quantile(finite, [cfg.alpha / 2, 1 - cfg.alpha / 2]))
    level = f"{100 * (1 - cfg.alpha):g}%"
    checks = [
        (
            cand.ci_low > curr.value + cfg.margin,
            f"lower bound of the candidate's {level} interval {cand.ci_low:.6g} "
            f"{'>' if cand.ci_low > curr.value + cfg.margin else '<='} current estimate {curr.value:.6g}"
            + (f" + margin {cfg.margin:g}" if cfg.margin else ""),
        ),
        (
            low > cfg.margin,
            f"lower bound of the paired {level} interval of the gain {low:.6g} "
            f"{'>' if low > cfg.margin else '<='} {cfg.margin:g} (gain {diff:.6g})",
        ),
        (
            cand.diagnostics.trustworthy,
            "candidate's estimate is trustworthy"
            if cand.diagnostics.trustworthy
            else "candidate's estimate is untrustworthy: " + "; ".join(cand.diagnostics.warnings),
        ),
    ]
    return GateDecision(
        promote=all(ok for ok, _ in checks),
        candidate=cand,
        current=curr,
        difference=diff,
        difference_low=low,
        difference_high=high,
        margin=cfg.margin,
        reasons=tuple(("ok: " if ok else "fails: ") + text for ok, text in checks),
    )


def check_promotion(
    logged: LoggedData,
    candidate: Scorable,
    current: Scorable,
    config: GateConfig | None = None,
    reward_model: RewardModel | None = None,
) -> GateDecision:
    """:func:`promotion_gate` for two policies on a pricing log (the check behind a promote action).

    The policies' probabilities come from ``action_probabilities`` on the logged contexts; the reward
    model (default :class:`RewardModel`) is cross-fitted on the log when the estimator needs one.
    """
    cfg = config if config is not None else GateConfig()
    contexts = logged.contexts()
    predictions = None
    if make_estimator(cfg.estimator).needs_reward_model:
        predictions = (reward_model or RewardModel()).fit_predict(logged)
    return promotion_gate(
        logged,
        candidate.action_probabilities(contexts),
        current.action_probabilities(contexts),
        predictions,
        cfg,
    )
