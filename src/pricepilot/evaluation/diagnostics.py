"""Diagnostics of an off-policy estimate: how far the logs support the target policy, and a warning
when they do not."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pricepilot.types import FloatArray


class UnreliableEstimateWarning(UserWarning):
    """An off-policy estimate whose diagnostics say it cannot be trusted (see :class:`Diagnostics`)."""


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """How far the logs support an estimate of the target policy.

    Attributes
    ----------
    n : logged rounds
    effective_sample_size : ``(sum w)^2 / sum w^2`` of the (clipped) weights: roughly how many rounds
        of on-policy data the log is worth for this target
    ess_share : ``effective_sample_size / n``
    max_weight : largest unclipped importance weight
    never_taken_share : share of logged rounds whose action the target would never take
    clipped_share : share of rounds whose weight was clipped
    warnings : why the estimate cannot be trusted, empty when nothing is wrong
    """

    n: int
    effective_sample_size: float
    ess_share: float
    max_weight: float
    never_taken_share: float
    clipped_share: float
    warnings: tuple[str, ...]

    @property
    def trustworthy(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "effective_sample_size": self.effective_sample_size,
            "ess_share": self.ess_share,
            "max_weight": self.max_weight,
            "never_taken_share": self.never_taken_share,
            "clipped_share": self.clipped_share,
            "warnings": list(self.warnings),
        }


def diagnose(
    weights: FloatArray, target_logged: FloatArray, clip: float = math.inf, min_ess: float = 100.0
) -> Diagnostics:
    """Diagnostics of importance weights (shape (n,), unclipped) and of the target's probability of each
    logged action (shape (n,)); warns when the effective sample size is below ``min_ess``, when one
    round carries more than 5% of the total weight, or when the target takes no logged action at all."""
    w = np.minimum(weights, clip)
    n = int(weights.shape[0])
    total, squares = float(w.sum()), float(np.square(w).sum())
    ess = total**2 / squares if squares > 0 else 0.0
    max_w = float(weights.max()) if n else 0.0
    found: list[str] = []
    if total <= 0:
        found.append("the target policy takes none of the logged actions: the logs say nothing about it")
    elif ess < min_ess:
        found.append(
            f"effective sample size {ess:.1f} is below {min_ess:g}: the logs hold too few rounds where the "
            "target would act as the logging policy did (log with more exploration, or log longer)"
        )
    if total > 0 and float(w.max()) / total > 0.05:
        found.append(
            f"one round carries {100 * float(w.max()) / total:.0f}% of the total weight (max weight "
            f"{max_w:.3g}): the estimate hinges on a handful of rounds"
        )
    return Diagnostics(
        n=n,
        effective_sample_size=ess,
        ess_share=ess / n if n else 0.0,
        max_weight=max_w,
        never_taken_share=float(np.mean(target_logged == 0)) if n else 0.0,
        clipped_share=float(np.mean(weights > clip)) if n else 0.0,
        warnings=tuple(found),
    )
