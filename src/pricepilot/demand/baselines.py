"""Reference demand models: a brand-store mean and the pooled log-log regression."""

from __future__ import annotations

from typing import Self

import numpy as np
from sklearn.linear_model import LinearRegression

from pricepilot.demand.features import OJData
from pricepilot.types import FloatArray


def _check_fitted(model: object, attribute: str) -> None:
    if not hasattr(model, attribute):
        raise RuntimeError(f"{type(model).__name__} is not fitted yet: call fit(data) first")


class BrandStoreMean:
    """Predicts the training mean of log units sold of each store and brand (the brand's mean if unseen)."""

    def fit(self, data: OJData) -> Self:
        cells = data.store * data.n_brands + data.brand
        size = data.n_stores * data.n_brands
        counts = np.bincount(cells, minlength=size)
        sums = np.bincount(cells, weights=data.log_units, minlength=size)
        brand_counts = np.bincount(data.brand, minlength=data.n_brands)
        brand_means = np.bincount(data.brand, weights=data.log_units, minlength=data.n_brands) / np.maximum(
            brand_counts, 1
        )
        fallback = np.tile(brand_means, data.n_stores)
        self.means_ = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
        return self

    def predict(self, data: OJData) -> FloatArray:
        """Predicted log units sold, shape (n_rows,)."""
        _check_fitted(self, "means_")
        return np.asarray(self.means_[data.store * data.n_brands + data.brand], dtype=np.float64)


def pooled_design(data: OJData) -> FloatArray:
    """Columns of the pooled log-log regression, shape (n_rows, n_brands + 4 + 5 + n_demographics).

    Brand dummies, own log price, competitors' log price index, deal, feature, season and trend,
    store demographics.
    """
    return np.column_stack(
        [
            np.eye(data.n_brands)[data.brand],
            data.log_price,
            data.log_competitor,
            data.deal,
            data.feat,
            data.season(),
            data.demographics[data.store],
        ]
    )


class PooledLogLog:
    """Log units sold on brand effects and one common own-price elasticity (ordinary least squares).

    The same inputs as :class:`~pricepilot.demand.hierarchical.StoreElasticityModel` (competitors'
    prices, deal, feature, season, store demographics), with every slope shared by all brands and stores.
    """

    def fit(self, data: OJData) -> Self:
        self.regression_ = LinearRegression(fit_intercept=False).fit(pooled_design(data), data.log_units)
        self.elasticity_ = float(self.regression_.coef_[data.n_brands])
        return self

    def predict(self, data: OJData) -> FloatArray:
        """Predicted log units sold, shape (n_rows,)."""
        _check_fitted(self, "regression_")
        return np.asarray(self.regression_.predict(pooled_design(data)), dtype=np.float64)
