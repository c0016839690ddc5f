"""Held-out evaluation on later weeks: the store-level model against the pooled log-log and a mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pricepilot.demand.baselines import BrandStoreMean, PooledLogLog
from pricepilot.demand.features import OJData, week_split
from pricepilot.demand.hierarchical import PenaltySearch, StoreElasticityModel, tune_penalties
from pricepilot.types import FloatArray


def rmse(predicted: FloatArray, actual: FloatArray) -> float:
    """Root mean squared error; both arrays of shape (n,)."""
    if predicted.shape != actual.shape or predicted.size == 0:
        raise ValueError(f"need two non-empty arrays of one shape, got {predicted.shape} and {actual.shape}")
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


@dataclass(frozen=True)
class HoldoutEvaluation:
    """Models fitted on the earlier weeks and their errors (log units sold) on the held-out later weeks.

    Attributes
    ----------
    rmse_store_model, rmse_pooled, rmse_brand_store_mean : held-out RMSE of log units sold
    first_test_week : the first held-out week; n_train, n_test : rows on each side
    search : the penalty search (on the training weeks only)
    store_model, pooled, brand_store_mean : the fitted models
    test_predicted, test_actual : the store model's held-out predictions and the truth, shape (n_test,)
    """

    rmse_store_model: float
    rmse_pooled: float
    rmse_brand_store_mean: float
    first_test_week: int
    n_train: int
    n_test: int
    search: PenaltySearch
    store_model: StoreElasticityModel
    pooled: PooledLogLog
    brand_store_mean: BrandStoreMean
    test_predicted: FloatArray
    test_actual: FloatArray


def evaluate_holdout(
    data: OJData,
    holdout_share: float = 0.2,
    grid: Mapping[str, Sequence[float]] | None = None,
) -> HoldoutEvaluation:
    """Hold out the last ``holdout_share`` of weeks, tune and fit on the rest, and score all three models.

    The penalties are tuned on the training weeks alone (their own latest weeks as validation), so the
    held-out weeks are touched once, for the final scores.
    """
    train_rows, test_rows = week_split(data, holdout_share)
    train, test = data.subset(train_rows), data.subset(test_rows)
    search = tune_penalties(train, grid)
    store_model = StoreElasticityModel(search.config).fit(train)
    pooled = PooledLogLog().fit(train)
    mean = BrandStoreMean().fit(train)
    predicted = store_model.predict(test)
    return HoldoutEvaluation(
        rmse_store_model=rmse(predicted, test.log_units),
        rmse_pooled=rmse(pooled.predict(test), test.log_units),
        rmse_brand_store_mean=rmse(mean.predict(test), test.log_units),
        first_test_week=int(test.week.min()),
        n_train=train.n_rows,
        n_test=test.n_rows,
        search=search,
        store_model=store_model,
        pooled=pooled,
        brand_store_mean=mean,
        test_predicted=predicted,
        test_actual=test.log_units,
    )
