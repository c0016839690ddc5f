"""From the fitted Dominick's demand to the calibrated ``oj`` market, and the command that refits it.

The market's demand is a per-visit purchase probability ``P = sigmoid(u - slope * log f)`` at price
multiple ``f`` of list price; the fit is a log-log model of weekly units sold. The mapping, per store
``s`` (a segment) and brand ``j`` (an item):

* **Level.** Visits are spread evenly over stores and brands, so a cell's weekly volume at the reference
  price, ``exp(mu_sj)``, becomes its purchase probability at list price relative to the best-selling
  cell: ``P0_sj = max_purchase_probability * exp(mu_sj - max mu)``. The market's size (visits per
  week) is not identified by sales data; ``max_purchase_probability`` fixes it.
* **Price response.** The expected units of a visit are ``P``, and ``d log P / d log f = -slope (1 - P)``.
  Setting ``slope_sj = -e_sj / (1 - P0_sj)`` makes the simulator's own-price elasticity at list price
  equal the fitted store-level elasticity ``e_sj`` exactly (away from list price the logistic bends:
  the elasticity grows in size with price, as ``1 - P`` grows).
* **Promotions** are the brands' feature ads: one category per brand, lift = the median over brands of
  the fitted feature effect (log units, used as log-odds, which is close when ``P`` is small), and
  start rate and length from how often and how long brands were featured in the data.
* **Season**: the fitted yearly harmonic's amplitude; no day-of-week swing (the data is weekly).
* **Not carried over**: in-store deals and competing brands' prices. A visit sees one item, so the
  simulator has no substitution between brands; the scenario holds competitors at their reference
  prices (``competitor_weight = 0``).

List prices are each brand's median shelf price per ounce times its ounces; unit costs take the brand's
median gross margin (``profit``) off that price.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pricepilot.data.datasets import load_dominicks_oj
from pricepilot.demand.evaluation import HoldoutEvaluation, evaluate_holdout
from pricepilot.demand.features import BRANDS, DEMOGRAPHICS, OUNCES, OJData, prepare_oj
from pricepilot.demand.hierarchical import StoreElasticityModel
from pricepilot.market.calibration import Calibration, packaged_path, save_calibration
from pricepilot.types import FloatArray

DAYS_PER_WEEK = 7.0


def feature_ad_dynamics(data: OJData) -> tuple[float, float]:
    """Share of store-brand-weeks with a feature ad, and the mean length of a run of them (weeks)."""
    order = np.lexsort((data.week, data.brand, data.store))
    cell = (data.store * data.n_brands + data.brand)[order]
    week = data.week[order]
    on = data.feat[order] > 0.5
    if not np.any(on):
        return 0.0, 1.0
    starts = on.copy()
    continues = (cell[1:] == cell[:-1]) & (week[1:] == week[:-1] + 1) & on[:-1]
    starts[1:] &= ~continues
    return float(np.mean(on)), float(on.sum() / starts.sum())


def oj_calibration(
    data: OJData,
    model: StoreElasticityModel,
    max_purchase_probability: float = 0.3,
    notes: dict[str, float | str] | None = None,
) -> Calibration:
    """Map a fitted store-level model to the ``oj`` market (see the module docstring).

    Parameters
    ----------
    data : the data the model was fitted on (for prices, margins and feature-ad frequency)
    model : a fitted :class:`StoreElasticityModel`
    max_purchase_probability : P(buy) at list price of the best-selling store and brand, in (0, 1)
    notes : extra numbers or text to keep with the calibration (held-out errors, source)
    """
    if not 0 < max_purchase_probability < 1:
        raise ValueError(f"max_purchase_probability must lie in (0, 1), got {max_purchase_probability!r}")
    mu = model.reference_log_units()
    p0 = max_purchase_probability * np.exp(mu - mu.max())
    logit = np.log(p0) - np.log1p(-p0)
    base_logit = float(logit.mean())
    quality = logit.mean(axis=0) - base_logit
    taste = logit - base_logit - quality[None, :]
    elasticity = model.elasticities()
    slope = -elasticity / (1.0 - p0)

    list_price = np.round(np.exp(data.reference_log_price) * np.asarray(OUNCES), 2)
    margin = np.array([np.median(data.margin[data.brand == b]) for b in range(data.n_brands)])
    unit_cost = np.round(list_price * (1.0 - np.clip(margin, 0.05, 0.95)), 4)
    share, run_weeks = feature_ad_dynamics(data)
    promo_days = DAYS_PER_WEEK * run_weeks
    season = model.season_
    config: dict[str, float | int] = {
        "n_visitors": data.n_stores,
        "n_items": data.n_brands,
        "n_categories": data.n_brands,
        "base_logit": round(base_logit, 6),
        "price_median": float(np.median(list_price)),
        "cost_ratio_low": round(float((unit_cost / list_price).min()), 6),
        "cost_ratio_high": round(float((unit_cost / list_price).max()), 6),
        "sensitivity_mean": round(float(np.median(slope)), 6),
        "weekly_amplitude": 0.0,
        "yearly_amplitude": round(float(np.hypot(season[0], season[1])), 6),
        "promo_start_rate": round(share / ((1.0 - share) * promo_days), 6),
        "promo_days": round(promo_days, 6),
        "promo_lift": round(max(float(np.median(model.brand_feat_)), 0.0), 6),
        "competitor_weight": 0.0,
        "competitor_spread": 0.0,
        "competitor_volatility": 0.0,
        "competitor_reaction": 0.0,
    }
    return Calibration(
        name="oj",
        segment_ids=data.store_ids,
        segment_features=data.demographics,
        segment_feature_names=DEMOGRAPHICS,
        item_names=BRANDS,
        list_price=list_price,
        unit_cost=unit_cost,
        quality=quality,
        taste=taste,
        sensitivity=slope - config["competitor_weight"],
        elasticity=elasticity,
        config=config,
        notes={"max_purchase_probability": max_purchase_probability, **(notes or {})},
    )


@dataclass(frozen=True)
class OJFit:
    """Everything :func:`fit_oj` made: the data, the held-out evaluation, the model refitted on every
    week with the tuned penalties, and the market calibration built from it."""

    data: OJData
    holdout: HoldoutEvaluation
    model: StoreElasticityModel
    calibration: Calibration

    @property
    def store_elasticities(self) -> FloatArray:
        """Own-price elasticity of every store and brand, shape (n_stores, n_brands)."""
        return self.model.elasticities()


def fit_oj(
    path: str | os.PathLike[str],
    holdout_share: float = 0.2,
    grid: Mapping[str, Sequence[float]] | None = None,
    max_purchase_probability: float = 0.3,
) -> OJFit:
    """Fit Dominick's orange juice demand from the data set's folder ``path`` and calibrate ``oj``.

    Evaluates on the last ``holdout_share`` of weeks (penalties tuned on the earlier weeks), then refits
    the store-level model on every week with those penalties for the calibration.
    """
    data = prepare_oj(load_dominicks_oj(path))
    holdout = evaluate_holdout(data, holdout_share, grid)
    model = StoreElasticityModel(holdout.search.config).fit(data)
    notes: dict[str, float | str] = {
        "source": "Dominick's Finer Foods refrigerated orange juice (bayesm orangeJuice)",
        "model": "ridge-pooled store-level log-log (pricepilot.demand.StoreElasticityModel)",
        "holdout_first_week": holdout.first_test_week,
        "holdout_rmse_store_model": round(holdout.rmse_store_model, 6),
        "holdout_rmse_pooled_loglog": round(holdout.rmse_pooled, 6),
        "holdout_rmse_brand_store_mean": round(holdout.rmse_brand_store_mean, 6),
        "penalty_store_brand_level": model.config.store_brand_level,
        "penalty_store_slope": model.config.store_slope,
        "penalty_store_brand_slope": model.config.store_brand_slope,
        "penalty_cross_price": model.config.cross_price,
        "capped_elasticities": model.n_capped_,
    }
    calibration = oj_calibration(data, model, max_purchase_probability, notes)
    return OJFit(data, holdout, model, calibration)


def refit_oj(
    data_path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> tuple[OJFit, Path]:
    """Refit from the data and write the calibration JSON (by default over the packaged ``oj.json``).

    Returns the fit and the path written.
    """
    fit = fit_oj(data_path)
    return fit, save_calibration(fit.calibration, out if out is not None else packaged_path("oj"))
