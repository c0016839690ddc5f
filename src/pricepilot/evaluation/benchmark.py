"""Simulated benchmark: several policies on identical traffic, measured exactly against the oracle."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pricepilot.evaluation.report import BenchmarkReport, RunCurve
from pricepilot.market import Market, MarketConfig
from pricepilot.policies import PolicyBase, make
from pricepilot.types import Decision

PolicyFactory = Callable[[Market, int], PolicyBase]
ProgressHook = Callable[[int], None]


def build_policy(name: str, market: Market, seed: int, **options: Any) -> PolicyBase:
    """A policy by registry name, for this market. ``'best_uniform'`` asks the market's oracle for the
    best single non-personalised price and fixes it (the bar personalisation must clear)."""
    if name == "best_uniform":
        action = market.oracle.best_uniform_action()
        return make("fixed", market.ladder, seed=seed, action=action, label="best_uniform")
    return make(name, market.ladder, seed=seed, **options)


@dataclass
class _Totals:
    """Running sums of one run."""

    expected: float = 0.0
    oracle: float = 0.0
    purchases: int = 0
    revenue: float = 0.0
    profit: float = 0.0
    paid: float = 0.0
    price_ratio: float = 0.0
    seconds: float = 0.0
    checkpoints: list[int] = field(default_factory=list)
    regret: list[float] = field(default_factory=list)
    action_totals: list[np.ndarray[Any, Any]] = field(default_factory=list)
    chosen_totals: list[float] = field(default_factory=list)


def _window_start(visits: int, window: int | None) -> int:
    return visits - (window if window is not None else visits // 4)


def run_one(
    config: MarketConfig,
    policy: PolicyFactory,
    seed: int,
    visits: int,
    batch_size: int = 1_000,
    window: int | None = None,
    on_progress: ProgressHook | None = None,
) -> tuple[dict[str, Any], RunCurve]:
    """Run one policy on one seed of a market; return its row of metrics and its regret curve.

    Expected rewards come from the oracle, so the regret is exact: it does not depend on which visitors
    happened to buy. ``window`` (default: the last quarter) is the tail over which the share of the
    oracle's reward is also reported.
    """
    if visits < batch_size:
        raise ValueError(f"visits ({visits}) must be at least batch_size ({batch_size})")
    market = Market(config, seed=seed)
    pol = policy(market, seed)
    oracle = market.oracle
    tail_start = _window_start(visits, window)
    tail_expected = tail_oracle = 0.0
    t = _Totals()
    done = 0
    while done < visits:
        n = min(batch_size, visits - done)
        batch = market.observe(n)
        start = time.perf_counter()
        decision: Decision = pol.act(batch.context)
        t.seconds += time.perf_counter() - start
        outcome = market.step(batch, decision)
        start = time.perf_counter()
        pol.update(outcome)
        t.seconds += time.perf_counter() - start

        expected = oracle.expected_rewards(batch)
        rows = np.arange(n)
        chosen = expected[rows, decision.actions]
        best = expected.max(axis=1)
        t.expected += float(chosen.sum())
        t.oracle += float(best.sum())
        if done + n > tail_start:
            keep = rows >= tail_start - done
            tail_expected += float(chosen[keep].sum())
            tail_oracle += float(best[keep].sum())
        t.purchases += int(outcome.purchased.sum())
        t.revenue += float(outcome.revenue.sum())
        t.profit += float(outcome.profit.sum())
        t.paid += float(decision.prices[outcome.purchased].sum())
        t.price_ratio += float((decision.prices / batch.context.list_prices).sum())
        done += n
        t.checkpoints.append(done)
        t.regret.append(t.oracle - t.expected)
        t.action_totals.append(expected.sum(axis=0))
        t.chosen_totals.append(t.expected)
        if on_progress is not None:
            on_progress(n)

    steps = np.asarray(t.checkpoints, dtype=np.float64)
    best_fixed = np.cumsum(np.asarray(t.action_totals), axis=0).max(axis=1)
    regret_vs_fixed = best_fixed - np.asarray(t.chosen_totals)
    curve = RunCurve(visits=steps, regret=np.asarray(t.regret), regret_vs_best_fixed=regret_vs_fixed)
    row = {
        "policy": pol.version.split("@")[0],
        "seed": seed,
        "visits": visits,
        "reward_to_oracle": t.expected / t.oracle,
        "reward_to_oracle_tail": tail_expected / tail_oracle if tail_oracle else float("nan"),
        "expected_reward_per_visit": t.expected / visits,
        "oracle_reward_per_visit": t.oracle / visits,
        "regret": t.oracle - t.expected,
        "regret_vs_best_fixed": float(regret_vs_fixed[-1]),
        "regret_exponent": curve.growth_exponent("regret"),
        "regret_vs_best_fixed_exponent": curve.growth_exponent("regret_vs_best_fixed"),
        "conversion": t.purchases / visits,
        "mean_price_paid": t.paid / t.purchases if t.purchases else float("nan"),
        "mean_price_to_list": t.price_ratio / visits,
        "revenue_per_visit": t.revenue / visits,
        "profit_per_visit": t.profit / visits,
        "decisions_per_s": visits / t.seconds if t.seconds > 0 else float("inf"),
    }
    return row, curve


def benchmark(
    market: Market | MarketConfig,
    policies: Mapping[str, PolicyBase | str],
    visits: int = 100_000,
    seeds: Sequence[int] = (0,),
    batch_size: int = 1_000,
    window: int | None = None,
    progress: bool = False,
) -> BenchmarkReport:
    """Run every policy on every seed of the market, on identical traffic per seed.

    Parameters
    ----------
    market : a Market (its config is used; each seed builds its own world) or a MarketConfig
    policies : label -> a policy (a fresh copy is made per seed) or a registry name (``'best_uniform'``
        included)
    visits : visits per run; seeds : one run per seed and policy; batch_size : visits per decision call
    window : visits at the end over which ``reward_to_oracle_tail`` is measured (default: last quarter)
    progress : show a progress bar
    """
    config = market.config if isinstance(market, Market) else market
    if not policies:
        raise ValueError("benchmark needs at least one policy")
    if not seeds:
        raise ValueError("benchmark needs at least one seed")

    def factory(spec: PolicyBase | str) -> PolicyFactory:
        if isinstance(spec, str):
            return lambda m, s: build_policy(spec, m, s)
        return lambda m, s: spec.fresh(s)

    rows: list[dict[str, Any]] = []
    curves: dict[tuple[str, int], RunCurve] = {}
    total = visits * len(policies) * len(seeds)
    with _Progress(progress, total) as tick:
        for seed in seeds:
            for label, spec in policies.items():
                row, curve = run_one(config, factory(spec), seed, visits, batch_size, window, tick)
                row["policy"] = label
                rows.append(row)
                curves[(label, seed)] = curve
    meta = {
        "scenario": config.name,
        "config": config.to_dict(),
        "policies": {
            label: (spec if isinstance(spec, str) else _describe(spec)) for label, spec in policies.items()
        },
        "visits": visits,
        "seeds": list(seeds),
        "batch_size": batch_size,
    }
    return BenchmarkReport(rows, curves, meta)


def _describe(policy: PolicyBase) -> dict[str, Any]:
    import dataclasses

    return {"name": policy.name, "config": dataclasses.asdict(policy.config)}


class _Progress:
    """A rich progress bar over visits, or nothing."""

    def __init__(self, show: bool, total: int) -> None:
        self.show, self.total = show, total

    def __enter__(self) -> ProgressHook | None:
        if not self.show:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        self._bar.start()
        task = self._bar.add_task("visits", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self._bar.stop()
