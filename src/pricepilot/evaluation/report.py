"""Benchmark results: per-run rows, regret curves, tables, JSON records and plots."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.types import FloatArray

SUMMARY_COLUMNS = (
    "reward_to_oracle",
    "reward_to_oracle_tail",
    "regret",
    "regret_exponent",
    "regret_vs_best_fixed",
    "regret_vs_best_fixed_exponent",
    "conversion",
    "mean_price_paid",
    "mean_price_to_list",
    "decisions_per_s",
)


def _package_version() -> str:
    try:
        return version("pricepilot")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class RunCurve:
    """Cumulative regret after each batch of one run; arrays of shape (n_batches,)."""

    visits: FloatArray
    regret: FloatArray
    regret_vs_best_fixed: FloatArray

    def growth_exponent(self, which: str = "regret") -> float:
        """Slope of log(cumulative regret) against log(visits) over the second half of the run.

        About 1 means regret grows linearly (a constant gap per visit); below 1, sub-linearly (the
        learner closes the gap). NaN when the regret is not positive throughout that half.
        """
        y = np.asarray(getattr(self, which))
        half = self.visits >= self.visits[-1] / 2
        if half.sum() < 2 or np.any(y[half] <= 0):
            return float("nan")
        slope = np.polyfit(np.log(self.visits[half]), np.log(y[half]), 1)[0]
        return float(slope)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in ("visits", "regret", "regret_vs_best_fixed")}


class BenchmarkReport:
    """Rows of one benchmark (one per policy and seed), their regret curves and the run's record."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        curves: dict[tuple[str, int], RunCurve],
        meta: dict[str, Any],
    ) -> None:
        self.rows = rows
        self.curves = curves
        self.meta = {"package_version": _package_version(), **meta}

    def table(self) -> pd.DataFrame:
        """One row per policy and seed: policy, seed, reward_to_oracle, regret, conversion, ..."""
        return pd.DataFrame(self.rows)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation over seeds per policy, in the order policies were given."""
        df = self.table()
        order = list(dict.fromkeys(df["policy"]))
        cols = [c for c in SUMMARY_COLUMNS if c in df]
        grouped = df.groupby("policy", sort=False)[cols]
        mean = grouped.mean().loc[order]
        std = grouped.std(ddof=1).loc[order].fillna(0.0)
        out = mean.copy()
        for c in cols:
            out[c + "_sd"] = std[c]
        return out

    def ratios(
        self, policy: str, references: list[str], column: str = "expected_reward_per_visit"
    ) -> pd.DataFrame:
        """Per-seed ratio of ``policy``'s ``column`` to each reference policy's, with mean, sd and min.

        With the default column this is the ratio of cumulative expected reward on identical traffic
        (every run of a seed has the same visits); ``profit_per_visit`` gives realised profit.
        """
        df = self.table()
        known = set(df["policy"])
        missing = [p for p in [policy, *references] if p not in known]
        if missing:
            raise ValueError(f"no rows for policy {missing}; the report has {sorted(known)}")
        wide = df.pivot(index="seed", columns="policy", values=column)
        out = pd.DataFrame({ref: wide[policy] / wide[ref] for ref in references})
        summary = pd.DataFrame(
            {"mean": out.mean(), "sd": out.std(ddof=1), "min": out.min(), "max": out.max()}
        )
        return summary.rename_axis(f"{policy} / reference ({column})")

    def to_markdown(self) -> str:
        """The summary as a markdown table: mean ± sd over seeds."""
        summary = self.summary()
        n_seeds = len(self.meta.get("seeds", []))
        header = [
            "policy",
            "reward / oracle",
            "tail reward / oracle",
            "regret",
            "regret exp.",
            "regret vs best fixed",
            "exp.",
            "conversion",
            "price paid",
            "price / list",
            "decisions/s",
        ]
        fmt = {
            "reward_to_oracle": "{:.4f}",
            "reward_to_oracle_tail": "{:.4f}",
            "regret": "{:,.0f}",
            "regret_exponent": "{:.2f}",
            "regret_vs_best_fixed": "{:,.0f}",
            "regret_vs_best_fixed_exponent": "{:.2f}",
            "conversion": "{:.4f}",
            "mean_price_paid": "{:.2f}",
            "mean_price_to_list": "{:.3f}",
            "decisions_per_s": "{:,.0f}",
        }
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for policy, row in summary.iterrows():
            cells = [str(policy)]
            for col, f in fmt.items():
                cell = f.format(row[col])
                if n_seeds > 1 and col not in {"decisions_per_s"}:
                    cell += " ± " + f.format(row[col + "_sd"])
                cells.append(cell)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write rows, curves and the run's record (scenario, config, policies, seeds, version)."""
        data = {
            "meta": self.meta,
            "rows": self.rows,
            "curves": [{"policy": p, "seed": s, **c.to_dict()} for (p, s), c in self.curves.items()],
        }
        _atomic_write(Path(path), json.dumps(data, indent=1, default=float))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> BenchmarkReport:
        data = json.loads(Path(path).read_text())
        curves = {
            (c["policy"], c["seed"]): RunCurve(
                np.asarray(c["visits"]), np.asarray(c["regret"]), np.asarray(c["regret_vs_best_fixed"])
            )
            for c in data["curves"]
        }
        meta = dict(data["meta"])
        meta.pop("package_version", None)
        report = cls(data["rows"], curves, meta)
        report.meta["package_version"] = data["meta"].get("package_version", "unknown")
        return report

    def plot(self, path: str | os.PathLike[str]) -> None:
        """PNG of cumulative regret against the oracle and against the best fixed price, mean over seeds."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        policies = list(dict.fromkeys(p for p, _ in self.curves))
        for policy in policies:
            runs = [c for (p, _), c in self.curves.items() if p == policy]
            x = runs[0].visits
            for ax, which in zip(axes, ("regret", "regret_vs_best_fixed"), strict=True):
                y = np.mean([getattr(r, which) for r in runs], axis=0)
                ax.plot(x, y, label=policy)
        axes[0].set_title("cumulative regret vs the oracle (personalised optimum)")
        axes[1].set_title("cumulative regret vs the best fixed price in hindsight")
        for ax in axes:
            ax.set_xlabel("visits")
            ax.set_ylabel(f"expected {self.meta.get('config', {}).get('objective', 'reward')} lost")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"scenario {self.meta.get('scenario')}, seeds {self.meta.get('seeds')}")
        save_figure(fig, path)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Write a matplotlib figure as PNG atomically (a crash never leaves half a file) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, target)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
