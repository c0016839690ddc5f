"""Off-policy evaluation on the simulator: interval coverage over seeded trials, against the oracle's truth.

Each trial builds the default e-commerce market with the trial's seed, trains a personalised target
(logistic Thompson sampling) on the market's first ``--train`` visits, then logs the next ``--visits``
visits under the uniform-random logging policy. Every estimator then estimates, from that log alone,
the value per visit of two targets: ``best_uniform`` (the oracle's best single price, deterministic)
and the trained ``logistic_ts`` (personalised, stochastic). The truth is the oracle's expected reward
of each target on the very visits logged: ``mean_i sum_a pi(a | x_i) q_true(x_i, a)``.

DM's intervals include the reward model's own estimation error: the model is refitted (cross-fitted
as for the estimate) on ``--dm-refits`` bootstrap resamples of the log, shared by both targets, and
DM's standard error and percentile interval come from its values on them
(:func:`pricepilot.evaluation.dm_refit_draws`). ``--dm-refits 0`` holds the model fixed (the old,
too narrow interval).

Reported per target and estimator: the share of trials whose 95% interval (normal and bootstrap)
covers the truth, the mean relative error, and the mean interval width.

    .venv/bin/python benchmarks/ope_simulator.py --trials 200 --out benchmarks/results/ope-simulator
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

import pricepilot as pp
from pricepilot.evaluation import (
    RewardModel,
    UnreliableEstimateWarning,
    available_estimators,
    build_policy,
    dm_refit_draws,
    log_traffic,
    make_estimator,
    prepare,
)
from pricepilot.types import FloatArray


def run_trial(
    seed: int, visits: int, train: int, n_bootstrap: int, dm_refits: int = 50
) -> list[dict[str, Any]]:
    """One trial: train the target, log uniform traffic, estimate both targets with every estimator."""
    market = pp.market.make("ecommerce", seed=seed)
    learner = pp.policies.make("logistic_ts", market.ladder, seed=seed)
    log_traffic(market, learner, train)  # the target learns on the first visits
    logs = log_traffic(market, pp.policies.make("uniform_random", market.ladder, seed=seed), visits)
    targets = {"best_uniform": build_policy("best_uniform", market, seed), "logistic_ts": learner}
    model = RewardModel()
    start = time.perf_counter()
    predictions = model.fit_predict(logs)
    model_seconds = time.perf_counter() - start
    contexts = logs.contexts()
    probs = {label: policy.action_probabilities(contexts) for label, policy in targets.items()}
    start = time.perf_counter()
    draws: dict[str, FloatArray | None] = dict.fromkeys(probs)
    if dm_refits:
        refitted = dm_refit_draws(logs, list(probs.values()), model, dm_refits, seed)
        draws = dict(zip(probs, refitted, strict=True))
    refit_seconds = time.perf_counter() - start
    rows = []
    for label, p in probs.items():
        truth = logs.true_value(p)
        assert truth is not None
        inputs = prepare(logs, p, predictions, draws[label])
        for name in available_estimators():
            for interval in ("normal", "bootstrap"):
                est = make_estimator(name, interval=interval, n_bootstrap=n_bootstrap, seed=seed)
                e = est.estimate_inputs(inputs)
                rows.append(
                    {
                        "seed": seed,
                        "target": label,
                        "estimator": name,
                        "interval": interval,
                        "truth": truth,
                        "value": e.value,
                        "ci_low": e.ci_low,
                        "ci_high": e.ci_high,
                        "covered": e.contains(truth),
                        "ess": e.diagnostics.effective_sample_size,
                        "warned": bool(e.diagnostics.warnings),
                        "model_seconds": model_seconds,
                        "refit_seconds": refit_seconds,
                    }
                )
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Coverage, relative error and interval width per target, estimator and interval kind."""
    df = df.assign(
        rel_error=(df["value"] - df["truth"]) / df["truth"],
        abs_rel_error=((df["value"] - df["truth"]) / df["truth"]).abs(),
        width=(df["ci_high"] - df["ci_low"]) / df["truth"],
    )
    order = {name: i for i, name in enumerate(available_estimators())}
    out = (
        df.groupby(["target", "estimator", "interval"])
        .agg(
            trials=("covered", "size"),
            coverage=("covered", "mean"),
            mean_rel_error=("rel_error", "mean"),
            mean_abs_rel_error=("abs_rel_error", "mean"),
            mean_rel_width=("width", "mean"),
            warned=("warned", "mean"),
        )
        .reset_index()
    )
    out["_order"] = out["estimator"].map(order)
    return out.sort_values(["target", "interval", "_order"]).drop(columns="_order").reset_index(drop=True)


def to_markdown(summary: pd.DataFrame) -> str:
    header = [
        "target",
        "estimator",
        "interval",
        "trials",
        "coverage",
        "mean rel. error",
        "mean abs. rel. error",
        "mean rel. width",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in summary.iterrows():
        lines.append(
            f"| {r['target']} | {r['estimator']} | {r['interval']} | {r['trials']} | "
            f"{r['coverage']:.3f} | {r['mean_rel_error']:+.4f} | {r['mean_abs_rel_error']:.4f} | "
            f"{r['mean_rel_width']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--visits", type=int, default=3_000, help="logged visits per trial")
    parser.add_argument("--train", type=int, default=20_000, help="visits the logistic_ts target learns on")
    parser.add_argument("--n-bootstrap", type=int, default=500)
    parser.add_argument(
        "--dm-refits", type=int, default=50, help="resamples with the reward model refitted (DM's interval)"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for coverage.md/.json/trials.csv")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        for done, seed in enumerate(range(args.first_seed, args.first_seed + args.trials), start=1):
            rows += run_trial(seed, args.visits, args.train, args.n_bootstrap, args.dm_refits)
            if done % 20 == 0:
                print(f"{done} trials, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    summary = summarise(df)
    seconds = time.perf_counter() - start
    table = to_markdown(summary)
    print(table)
    print(f"\n{args.trials} trials in {seconds:.0f} s")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "coverage.md").write_text(table + "\n")
        df.to_csv(args.out / "trials.csv", index=False)
        record = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "seconds": seconds,
            "package_version": pp.__version__,
            "summary": summary.to_dict(orient="records"),
        }
        (args.out / "coverage.json").write_text(json.dumps(record, indent=1, default=float))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
