"""Dominick's orange juice demand: held-out error of the store-level model against the pooled log-log.

Holds out the last 20% of weeks; tunes the store model's penalties on the earlier weeks alone (their
own latest 20% as validation); scores the store-level model, the pooled log-log regression and a
brand-store mean by RMSE of log units sold on the held-out weeks. Then refits the store model on every
week and reports the own-price elasticities per brand (mean and spread over the 83 stores), with two
plots: elasticity by store for each brand, and held-out predicted against actual log units.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/demand_dominicks.py \\
        --data ../shared/data/dominicks_oj --out benchmarks/results/demand-dominicks

``--write-package`` also writes the calibration over the packaged ``oj.json`` (as
``pricepilot demand fit`` does).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pricepilot.demand import BRANDS, OJFit, StoreElasticityModel, fit_oj, rmse, week_split
from pricepilot.market.calibration import packaged_path, save_calibration

ABLATIONS = {
    "store elasticity deviations pooled away (u, v)": {"store_slope": 1e9, "store_brand_slope": 1e9},
    "brand-pair cross prices pooled away (competitors' index only)": {"cross_price": 1e9},
}


def ablation_rmse(fit: OJFit, holdout_share: float, changes: dict[str, float]) -> float:
    """Held-out RMSE of the store model with the tuned penalties but ``changes`` (a huge penalty pools
    a block of deviations away), on the same split."""
    train_rows, test_rows = week_split(fit.data, holdout_share)
    config = replace(fit.holdout.search.config, **changes)
    model = StoreElasticityModel(config).fit(fit.data.subset(train_rows))
    test = fit.data.subset(test_rows)
    return rmse(model.predict(test), test.log_units)


def summary(fit: OJFit, seconds: float, ablations: dict[str, float]) -> dict[str, Any]:
    """The figures of the run, ready for JSON."""
    h = fit.holdout
    e = fit.store_elasticities
    return {
        "holdout": {
            "first_test_week": h.first_test_week,
            "n_train": h.n_train,
            "n_test": h.n_test,
            "rmse_store_model": h.rmse_store_model,
            "rmse_pooled_loglog": h.rmse_pooled,
            "rmse_brand_store_mean": h.rmse_brand_store_mean,
            "rmse_ablations": ablations,
            "pooled_elasticity": h.pooled.elasticity_,
            "holdout_fit_brand_elasticities": h.store_model.brand_elasticities().tolist(),
        },
        "penalties": {
            "chosen": {
                "store_brand_level": fit.model.config.store_brand_level,
                "store_slope": fit.model.config.store_slope,
                "store_brand_slope": fit.model.config.store_brand_slope,
                "cross_price": fit.model.config.cross_price,
            },
            "cross_elasticities": fit.model.cross_elasticities().tolist(),
            "validation_rmse": [
                [c.store_brand_level, c.store_slope, c.store_brand_slope, c.cross_price, r]
                for c, r in h.search.candidates
            ],
        },
        "elasticities": {
            brand: {
                "mean": float(e[:, j].mean()),
                "min": float(e[:, j].min()),
                "median": float(np.median(e[:, j])),
                "max": float(e[:, j].max()),
                "competitors": float(fit.model.competitor_elasticities()[j]),
            }
            for j, brand in enumerate(BRANDS)
        },
        "store_elasticity_all_brands": {
            "min": float(e.min()),
            "median": float(np.median(e)),
            "max": float(e.max()),
            "n_capped": fit.model.n_capped_,
        },
        "seconds": seconds,
    }


def markdown(s: dict[str, Any]) -> str:
    h = s["holdout"]
    lines = [
        f"Held-out weeks >= {h['first_test_week']} ({h['n_test']:,} rows; {h['n_train']:,} training rows)",
        "",
        "| model | held-out RMSE of log units sold |",
        "| --- | --- |",
        f"| store-level model (partial pooling) | {h['rmse_store_model']:.4f} |",
        *(f"| store model, ablation: {name} | {value:.4f} |" for name, value in h["rmse_ablations"].items()),
        f"| pooled log-log (elasticity {h['pooled_elasticity']:.2f}) | {h['rmse_pooled_loglog']:.4f} |",
        f"| brand-store mean | {h['rmse_brand_store_mean']:.4f} |",
        "",
        "Own-price elasticity over the 83 stores (model refitted on every week):",
        "",
        "| brand | mean | min | median | max | cross: all competitors' prices |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for brand, v in s["elasticities"].items():
        lines.append(
            f"| {brand} | {v['mean']:.2f} | {v['min']:.2f} | {v['median']:.2f} | {v['max']:.2f} "
            f"| {v['competitors']:.2f} |"
        )
    a = s["store_elasticity_all_brands"]
    p = s["penalties"]["chosen"]
    lines += [
        "",
        f"All store-brand elasticities: min {a['min']:.2f}, median {a['median']:.2f}, max {a['max']:.2f}; "
        f"capped: {a['n_capped']}. Penalties chosen on validation weeks: store-brand level "
        f"{p['store_brand_level']}, store slope {p['store_slope']}, store-brand slope "
        f"{p['store_brand_slope']}, brand-pair cross price {p['cross_price']}. "
        f"Fit, tuning and refit: {s['seconds']:.1f} s.",
    ]
    return "\n".join(lines) + "\n"


def plot(fit: OJFit, path: Path) -> None:
    """Elasticity by store for each brand, and held-out predicted against actual log units."""
    e = fit.store_elasticities
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    jitter = np.random.default_rng(0).uniform(-0.25, 0.25, e.shape[0])
    for j in range(e.shape[1]):
        left.scatter(e[:, j], j + jitter, s=8, alpha=0.6, color="tab:blue")
        left.plot([np.median(e[:, j])] * 2, [j - 0.35, j + 0.35], color="black", lw=2)
    left.set_yticks(range(e.shape[1]), list(BRANDS))
    left.axvline(0.0, color="grey", lw=0.8)
    left.axvline(fit.holdout.pooled.elasticity_, color="tab:red", ls="--", lw=1, label="pooled log-log")
    left.set_xlabel("own-price elasticity (one point per store)")
    left.legend(loc="lower left")
    h = fit.holdout
    right.hexbin(h.test_actual, h.test_predicted, gridsize=60, bins="log", cmap="viridis")
    lo, hi = float(h.test_actual.min()), float(h.test_actual.max())
    right.plot([lo, hi], [lo, hi], color="tab:red", lw=1)
    right.set_xlabel("actual log units (held-out weeks)")
    right.set_ylabel("store model's prediction")
    right.set_title(f"RMSE {h.rmse_store_model:.3f} (pooled log-log {h.rmse_pooled:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the dominicks_oj folder")
    parser.add_argument("--out", default="benchmarks/results/demand-dominicks", help="results folder")
    parser.add_argument("--holdout-share", type=float, default=0.2)
    parser.add_argument("--write-package", action="store_true", help="also write the packaged oj.json")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fit = fit_oj(args.data, holdout_share=args.holdout_share)
    seconds = time.perf_counter() - start
    ablations = {name: ablation_rmse(fit, args.holdout_share, c) for name, c in ABLATIONS.items()}
    s = summary(fit, seconds, ablations)
    (out / "demand.json").write_text(json.dumps(s, indent=2) + "\n")
    (out / "demand.md").write_text(markdown(s))
    save_calibration(fit.calibration, out / "oj-calibration.json")
    plot(fit, out / "elasticities.png")
    if args.write_package:
        save_calibration(fit.calibration, packaged_path("oj"))
    print(markdown(s))
    print(f"wrote {out / 'demand.md'}, {out / 'demand.json'}, {out / 'elasticities.png'}")


if __name__ == "__main__":
    main()
