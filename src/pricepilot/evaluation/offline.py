"""Offline evaluation of policies on a log: every estimator's value, interval and diagnostics, the truth
where the log knows it, the promotion gate's verdict, and a report (markdown, JSON, plot)."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.data.logged import LoggedData
from pricepilot.evaluation.diagnostics import UnreliableEstimateWarning
from pricepilot.evaluation.estimators import (
    Estimate,
    Interval,
    available_estimators,
    make_estimator,
    prepare,
)
from pricepilot.evaluation.gate import GateConfig, GateDecision, Scorable, promotion_gate
from pricepilot.evaluation.report import _atomic_write, _package_version, save_figure
from pricepilot.evaluation.reward_model import RewardModel, dm_refit_draws
from pricepilot.types import FloatArray

PolicySpec = Scorable | FloatArray


@dataclass
class OffPolicyReport:
    """Estimates of several policies on one log (see :func:`evaluate_offline`).

    Attributes
    ----------
    estimates : policy label -> one Estimate per estimator
    truths : policy label -> true value per round on the logged rounds, or None where unknown
    gate : the promotion gate's verdict, when a current policy was named
    meta : the run's record (log size, estimators, alpha, interval, package version, ...)
    """

    estimates: dict[str, list[Estimate]]
    truths: dict[str, float | None]
    gate: GateDecision | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per policy and estimator: value, interval, standard error, diagnostics, truth."""
        rows = []
        for policy, estimates in self.estimates.items():
            for e in estimates:
                d = e.diagnostics
                rows.append(
                    {
                        "policy": policy,
                        "estimator": e.estimator,
                        "value": e.value,
                        "ci_low": e.ci_low,
                        "ci_high": e.ci_high,
                        "std_error": e.std_error,
                        "ess": d.effective_sample_size,
                        "ess_share": d.ess_share,
                        "max_weight": d.max_weight,
                        "never_taken_share": d.never_taken_share,
                        "truth": self.truths.get(policy),
                        "warnings": " ".join(d.warnings),
                    }
                )
        return pd.DataFrame(rows)

    def to_markdown(self) -> str:
        """The table and the gate's verdict as markdown."""
        level = f"{100 * (1 - self.meta.get('alpha', 0.05)):g}%"
        header = ["policy", "estimator", "value", f"{level} interval", "ESS", "max weight", "never taken"]
        has_truth = any(t is not None for t in self.truths.values())
        header += ["truth"] if has_truth else []
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, r in self.table().iterrows():
            cells = [
                str(r["policy"]),
                str(r["estimator"]) + (" ⚠" if r["warnings"] else ""),
                f"{r['value']:.6g}",
                f"[{r['ci_low']:.6g}, {r['ci_high']:.6g}]",
                f"{r['ess']:,.0f}",
                f"{r['max_weight']:.3g}",
                f"{r['never_taken_share']:.2f}",
            ]
            if has_truth:
                cells.append("" if r["truth"] is None or pd.isna(r["truth"]) else f"{r['truth']:.6g}")
            lines.append("| " + " | ".join(cells) + " |")
        warned = {(p, e.estimator): e.diagnostics.warnings for p, es in self.estimates.items() for e in es}
        notes = [f"- ⚠ {p} / {e}: {'; '.join(w)}" for (p, e), w in warned.items() if w]
        if notes:
            lines += ["", "Warnings:", *notes]
        if self.gate is not None:
            verdict = "PROMOTE" if self.gate.promote else "REFUSE"
            lines += ["", f"Promotion gate ({self.meta.get('gate_estimator')}): **{verdict}**"]
            lines += [f"- {reason}" for reason in self.gate.reasons]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "estimates": {p: [e.to_dict() for e in es] for p, es in self.estimates.items()},
            "truths": self.truths,
            "gate": None if self.gate is None else self.gate.to_dict(),
        }

    def to_json(self, path: str | os.PathLike[str]) -> None:
        _atomic_write(Path(path), json.dumps(self.to_dict(), indent=1, default=float))

    def plot(self, path: str | os.PathLike[str]) -> None:
        """PNG: each estimator's value and interval per policy, the truth beside it where known."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        policies = list(self.estimates)
        fig, axes = plt.subplots(1, len(policies), figsize=(5 * len(policies), 4), squeeze=False)
        for ax, policy in zip(axes[0], policies, strict=True):
            ests = self.estimates[policy]
            y = np.arange(len(ests))
            values = np.array([e.value for e in ests])
            err = np.array([[e.value - e.ci_low for e in ests], [e.ci_high - e.value for e in ests]])
            for i, e in enumerate(ests):  # red: the diagnostics say the estimate cannot be trusted
                color = "tab:red" if e.diagnostics.warnings else "tab:blue"
                ax.errorbar(values[i], y[i], xerr=np.abs(err[:, i : i + 1]), fmt="o", color=color, capsize=4)
            truth = self.truths.get(policy)
            if truth is not None:
                ax.axvline(truth, color="black", linestyle="--", label=f"truth {truth:.4g}")
                ax.legend(fontsize=8)
            ax.set_yticks(y, [e.estimator for e in ests])
            ax.set_title(policy)
            ax.set_xlabel("estimated reward per round")
            ax.grid(alpha=0.3)
        level = f"{100 * (1 - self.meta.get('alpha', 0.05)):g}%"
        fig.suptitle(f"off-policy estimates with {level} {self.meta.get('interval', '')} intervals")
        save_figure(fig, path)

    def write(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write ``report.md``, ``report.json`` and ``estimates.png`` into ``folder``; return the paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "report.md", out / "report.json", out / "estimates.png"]
        _atomic_write(paths[0], self.to_markdown() + "\n")
        self.to_json(paths[1])
        self.plot(paths[2])
        return paths


def evaluate_offline(
    logged: LoggedData,
    policies: Mapping[str, PolicySpec],
    estimators: Sequence[str] = tuple(available_estimators()),
    alpha: float = 0.05,
    interval: Interval = "normal",
    reward_model: RewardModel | None = None,
    current: str | None = None,
    gate: GateConfig | None = None,
    seed: int = 0,
    dm_refits: int = 50,
) -> OffPolicyReport:
    """Estimate every policy's value per round on the log with every estimator.

    Parameters
    ----------
    logged : LoggedData
    policies : label -> a policy (its ``action_probabilities`` on the logged contexts are used) or an
        array of shape (n, n_actions) of its probabilities
    estimators : estimator names (default: all)
    alpha, interval : the intervals' level and kind
    reward_model : fitted once, cross-fitted, when any estimator needs it (default :class:`RewardModel`)
    current : label of the current policy; the gate then judges each other policy against it (the
        report keeps the verdict on the last one)
    gate : GateConfig of the gate (default: doubly robust at the same ``alpha`` and ``interval``)
    seed : seeds the bootstrap
    dm_refits : bootstrap resamples on which the reward model is refitted for DM's interval (see
        :func:`pricepilot.evaluation.reward_model.dm_refit_draws`; each costs a Newton step per fold); 0 holds
        the model fixed, which leaves DM's interval far too narrow
    """
    if not policies:
        raise ValueError("evaluate_offline needs at least one policy")
    if current is not None and current not in policies:
        raise ValueError(f"current policy {current!r} is not among the policies {list(policies)}")
    if dm_refits < 0 or dm_refits == 1:
        raise ValueError(f"dm_refits must be 0 (model held fixed) or at least 2, got {dm_refits}")
    ests = [make_estimator(name, alpha=alpha, interval=interval, seed=seed) for name in estimators]
    gate_cfg = gate if gate is not None else GateConfig(alpha=alpha, interval=interval, seed=seed)
    needs_model = any(e.needs_reward_model for e in ests) or (
        current is not None and make_estimator(gate_cfg.estimator).needs_reward_model
    )
    model = reward_model or RewardModel()
    predictions = model.fit_predict(logged) if needs_model else None
    probs = {label: _probabilities(logged, spec) for label, spec in policies.items()}
    draws: dict[str, FloatArray | None] = dict.fromkeys(probs)
    if dm_refits and "dm" in estimators:
        refitted = dm_refit_draws(logged, list(probs.values()), model, dm_refits, seed)
        draws = dict(zip(probs, refitted, strict=True))
    estimates: dict[str, list[Estimate]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)  # the report carries them
        for label, p in probs.items():
            inputs = prepare(logged, p, predictions, draws[label])
            estimates[label] = [e.estimate_inputs(inputs) for e in ests]
        verdict = None
        if current is not None:
            for label in probs:
                if label != current:
                    verdict = promotion_gate(logged, probs[label], probs[current], predictions, gate_cfg)
    meta = {
        "package_version": _package_version(),
        "rounds": logged.n,
        "n_actions": logged.n_actions,
        "objective": logged.objective,
        "estimators": list(estimators),
        "alpha": alpha,
        "interval": interval,
        "seed": seed,
        "dm_refits": dm_refits if "dm" in estimators else 0,
        "current": current,
        "gate_estimator": gate_cfg.estimator,
        "reward_model": None if predictions is None else dataclasses.asdict(model.config),
    }
    truths = {label: logged.true_value(p) for label, p in probs.items()}
    return OffPolicyReport(estimates, truths, verdict, meta)


def _probabilities(logged: LoggedData, spec: PolicySpec) -> FloatArray:
    if isinstance(spec, np.ndarray):
        return np.asarray(spec, dtype=np.float64)
    return spec.action_probabilities(logged.contexts())


def evaluate_files(
    logs: str | os.PathLike[str],
    policy: str | os.PathLike[str],
    current: str | os.PathLike[str] | None = None,
    **options: Any,
) -> OffPolicyReport:
    """:func:`evaluate_offline` of saved policies on a log file (what ``pricepilot evaluate`` runs).

    Parameters
    ----------
    logs : a ``.parquet`` or ``.csv`` log (see :mod:`pricepilot.data.logfile`) that can rebuild pricing
        contexts
    policy : folder of the saved candidate policy (``Policy.save``)
    current : folder of the saved current policy; the promotion gate then judges the candidate
    options : passed to :func:`evaluate_offline` (estimators, alpha, interval, gate, seed, ...)
    """
    from pricepilot.data.logfile import read_logs
    from pricepilot.policies import load

    logged = read_logs(logs)
    candidate_label = f"candidate: {Path(policy).name}"
    policies: dict[str, PolicySpec] = {candidate_label: load(policy)}
    current_label = None
    if current is not None:
        current_label = f"current: {Path(current).name}"
        policies[current_label] = load(current)
    report = evaluate_offline(logged, policies, current=current_label, **options)
    report.meta["logs"] = str(logs)
    report.meta["policy"] = str(policy)
    report.meta["current_policy"] = None if current is None else str(current)
    return report
