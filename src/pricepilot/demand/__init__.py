"""Demand models fitted from logs: Dominick's orange juice with store-level elasticities, and the
calibrated ``oj`` market built from the fit.

>>> fit = fit_oj("../shared/data/dominicks_oj")  # doctest: +SKIP
>>> fit.holdout.rmse_store_model < fit.holdout.rmse_pooled  # doctest: +SKIP
True
"""

from __future__ import annotations

from pricepilot.demand.baselines import BrandStoreMean, PooledLogLog
from pricepilot.demand.calibrate import OJFit, feature_ad_dynamics, fit_oj, oj_calibration, refit_oj
from pricepilot.demand.evaluation import HoldoutEvaluation, evaluate_holdout, rmse
from pricepilot.demand.features import BRANDS, DEMOGRAPHICS, OUNCES, OJData, prepare_oj, week_split
from pricepilot.demand.hierarchical import (
    PenaltySearch,
    StoreElasticityConfig,
    StoreElasticityModel,
    tune_penalties,
)

__all__ = [
    "BRANDS",
    "DEMOGRAPHICS",
    "OUNCES",
    "BrandStoreMean",
    "HoldoutEvaluation",
    "OJData",
    "OJFit",
    "PenaltySearch",
    "PooledLogLog",
    "StoreElasticityConfig",
    "StoreElasticityModel",
    "evaluate_holdout",
    "feature_ad_dynamics",
    "fit_oj",
    "oj_calibration",
    "prepare_oj",
    "refit_oj",
    "rmse",
    "tune_penalties",
    "week_split",
]
