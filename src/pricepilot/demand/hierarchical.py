"""Store-level own-price elasticities by partial pooling (a ridge-penalised hierarchical log-log model).

The model of log units sold of brand ``j`` in store ``s`` in week ``t`` is::

    log q = a_j + A_sj + e_sj * log p + c_j * log p_comp + sum_k w_jk * log p_k
            + d_j * deal + f_j * feat + season_t + z_s . g
    e_sj  = b_j + z_s . h + u_s + v_sj          (the store-level own-price elasticity)

with ``log p`` the own log price, ``log p_comp`` the competitors' log price index (mean over the other
brands) and ``log p_k`` brand ``k``'s log price (``k != j``), all centred on the reference (median)
prices; ``z_s`` the store's standardised demographics. Brand, season and demographic terms
(``a, b, c, d, f, g, h``) are fixed effects; the store deviations ``A_sj`` (level), ``u_s`` (elasticity
of the store) and ``v_sj`` (elasticity of the store and brand), and the brand-pair cross-price
deviations ``w_jk`` from the brand's index effect, are shrunk towards zero by ridge penalties: the
posterior mode of a random-effects model with Gaussian deviations of variance ``sigma^2 / penalty``.
The penalties are chosen on held-out later weeks of the training data (:func:`tune_penalties`); the
fit solves the penalised normal equations exactly (a Cholesky factorisation of a ~2,100-column Gram
matrix), so tuning reuses one Gram matrix for every candidate.

Own-price elasticities must be negative. Shrinkage keeps them so in Dominick's data; where a store and
brand would still come out above ``max_elasticity`` the fitted value is capped there, and the number of
capped cells is kept in ``n_capped_`` so a report can say so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from pricepilot.demand.features import SEASON_NAMES, OJData, week_split
from pricepilot.types import FloatArray, IntArray


@dataclass(frozen=True)
class StoreElasticityConfig:
    """Ridge penalties of the store deviations (larger pools harder towards the brand's value).

    Parameters
    ----------
    store_brand_level : penalty on the store-and-brand level deviations ``A_sj``
    store_slope : penalty on the store elasticity deviations ``u_s``
    store_brand_slope : penalty on the store-and-brand elasticity deviations ``v_sj``
    cross_price : penalty on the brand-pair cross-price deviations ``w_jk`` (very large: the
        competitors' price index alone)
    fixed : penalty on every fixed effect (tiny: numerical stability only)
    max_elasticity : cap of a fitted store-and-brand own-price elasticity (must be < 0)
    """

    store_brand_level: float = 0.1
    store_slope: float = 1.0
    store_brand_slope: float = 10.0
    cross_price: float = 100.0
    fixed: float = 1e-6
    max_elasticity: float = -0.1

    def __post_init__(self) -> None:
        for name in ("store_brand_level", "store_slope", "store_brand_slope", "cross_price", "fixed"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"StoreElasticityConfig.{name} = {value!r}: must be finite and > 0")
        if not (math.isfinite(self.max_elasticity) and self.max_elasticity < 0):
            raise ValueError(f"StoreElasticityConfig.max_elasticity = {self.max_elasticity!r}: must be < 0")


# Brand-specific fixed-effect blocks, in design order.
_FIXED_BLOCKS = ("brand_level", "brand_slope", "brand_competitor", "brand_deal", "brand_feat")


def _design(data: OJData) -> sp.csr_matrix:
    """The sparse design matrix; column blocks in the order of :meth:`StoreElasticityModel._penalties`."""
    n, J, S = data.n_rows, data.n_brands, data.n_stores
    rows = np.arange(n)
    z = data.demographics[data.store]

    def by_index(index: IntArray, values: FloatArray, width: int) -> sp.csr_matrix:
        return sp.csr_matrix((values, (rows, index)), shape=(n, width))

    ones = np.ones(n)
    cell = data.store * J + data.brand
    blocks = [
        by_index(data.brand, ones, J),
        by_index(data.brand, data.log_price, J),
        by_index(data.brand, data.log_competitor, J),
        by_index(data.brand, data.deal, J),
        by_index(data.brand, data.feat, J),
        sp.csr_matrix(data.season()),
        sp.csr_matrix(z),
        sp.csr_matrix(z * data.log_price[:, None]),
        by_index(cell, ones, S * J),
        by_index(data.store, data.log_price, S),
        by_index(cell, data.log_price, S * J),
        _cross_block(data),
    ]
    return sp.csr_matrix(sp.hstack(blocks, format="csr"))


def _cross_block(data: OJData) -> sp.csr_matrix:
    """Brand-pair cross-price columns, shape (n_rows, J * J): column ``j * J + k`` holds brand ``k``'s
    log price on rows of brand ``j`` (zero for ``k == j``: the own price has its own terms)."""
    n, J = data.n_rows, data.n_brands
    others = data.log_prices.copy()
    others[np.arange(n), data.brand] = 0.0
    rows = np.repeat(np.arange(n), J)
    cols = (data.brand[:, None] * J + np.arange(J)[None, :]).ravel()
    return sp.csr_matrix((others.ravel(), (rows, cols)), shape=(n, J * J))


class StoreElasticityModel:
    """Partially pooled log-log demand with store-level own-price elasticities (see the module docstring).

    Parameters
    ----------
    config : StoreElasticityConfig, the penalties
    """

    def __init__(self, config: StoreElasticityConfig | None = None) -> None:
        self.config = config if config is not None else StoreElasticityConfig()

    def _penalties(self, n_brands: int, n_stores: int, n_demographics: int, n_season: int) -> FloatArray:
        c = self.config
        n_fixed = len(_FIXED_BLOCKS) * n_brands + n_season + 2 * n_demographics
        return np.concatenate(
            [
                np.full(n_fixed, c.fixed),
                np.full(n_stores * n_brands, c.store_brand_level),
                np.full(n_stores, c.store_slope),
                np.full(n_stores * n_brands, c.store_brand_slope),
                np.full(n_brands * n_brands, c.cross_price),
            ]
        )

    def fit(self, data: OJData) -> Self:
        """Fit on ``data`` (rows of any stores; all of ``data.store_ids`` get parameters)."""
        x = _design(data)
        return self._fit_gram(data, (x.T @ x).toarray(), np.asarray(x.T @ data.log_units).ravel())

    def _fit_gram(self, data: OJData, gram: FloatArray, xty: FloatArray) -> Self:
        J, S, D = data.n_brands, data.n_stores, data.demographics.shape[1]
        n_season = len(SEASON_NAMES)
        penalty = self._penalties(J, S, D, n_season)
        factor = scipy.linalg.cho_factor(gram + np.diag(penalty), check_finite=False)
        coef = scipy.linalg.cho_solve(factor, xty, check_finite=False)
        self.coef_ = np.asarray(coef, dtype=np.float64)
        parts = np.split(
            self.coef_,
            np.cumsum([J, J, J, J, J, n_season, D, D, S * J, S, S * J]),
        )
        (
            self.brand_level_,
            self.brand_slope_,
            self.brand_competitor_,
            self.brand_deal_,
            self.brand_feat_,
            self.season_,
            self.demographic_level_,
            self.demographic_slope_,
            store_brand_level,
            self.store_slope_,
            store_brand_slope,
            cross,
        ) = parts
        self.store_brand_level_ = store_brand_level.reshape(S, J)
        self.store_brand_slope_ = store_brand_slope.reshape(S, J)
        self.cross_deviation_ = cross.reshape(J, J) * (1.0 - np.eye(J))
        self.demographics_ = data.demographics
        raw = (
            self.brand_slope_[None, :]
            + (data.demographics @ self.demographic_slope_)[:, None]
            + self.store_slope_[:, None]
            + self.store_brand_slope_
        )
        self.raw_elasticities_ = raw
        self.n_capped_ = int(np.sum(raw > self.config.max_elasticity))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("StoreElasticityModel is not fitted yet: call fit(data) first")

    def predict(self, data: OJData) -> FloatArray:
        """Predicted log units sold, shape (n_rows,), with the fitted (uncapped) coefficients."""
        self._check_fitted()
        return np.asarray(_design(data) @ self.coef_, dtype=np.float64)

    def elasticities(self) -> FloatArray:
        """Own-price elasticity of every store and brand, shape (n_stores, n_brands), capped below 0."""
        self._check_fitted()
        return np.minimum(self.raw_elasticities_, self.config.max_elasticity)

    def brand_elasticities(self) -> FloatArray:
        """Own-price elasticity of each brand averaged over stores, shape (n_brands,)."""
        return np.asarray(self.elasticities().mean(axis=0), dtype=np.float64)

    def cross_elasticities(self) -> FloatArray:
        """Elasticity of brand ``j``'s units in brand ``k``'s price at entry ``[j, k]``, shape
        (n_brands, n_brands), zero on the diagonal (the index effect shared out plus the pair's own)."""
        self._check_fitted()
        J = self.brand_competitor_.size
        shared = self.brand_competitor_[:, None] / (J - 1) * (1.0 - np.eye(J))
        return np.asarray(shared + self.cross_deviation_, dtype=np.float64)

    def competitor_elasticities(self) -> FloatArray:
        """Elasticity of each brand's units when every competitor's price moves together, shape
        (n_brands,): the row sums of :meth:`cross_elasticities`."""
        return np.asarray(self.cross_elasticities().sum(axis=1), dtype=np.float64)

    def reference_log_units(self) -> FloatArray:
        """Log units sold of every store and brand at the reference prices, without deal or feature,
        at the year's average season and week 100, shape (n_stores, n_brands)."""
        self._check_fitted()
        return np.asarray(
            self.brand_level_[None, :]
            + (self.demographics_ @ self.demographic_level_)[:, None]
            + self.store_brand_level_,
            dtype=np.float64,
        )


@dataclass(frozen=True)
class PenaltySearch:
    """Result of :func:`tune_penalties`: the chosen config and the validation RMSE of every candidate."""

    config: StoreElasticityConfig
    candidates: tuple[tuple[StoreElasticityConfig, float], ...]


def tune_penalties(
    data: OJData,
    grid: Mapping[str, Sequence[float]] | None = None,
    validation_share: float = 0.2,
    base: StoreElasticityConfig | None = None,
) -> PenaltySearch:
    """Choose the penalties by RMSE of log units on the last ``validation_share`` of ``data``'s weeks.

    Parameters
    ----------
    data : the training rows only (the test weeks must not be in it)
    grid : candidate values per penalty field (default: 36 candidates around the values that won on
        Dominick's weeks 40-136; the validation error is flat in the first two)
    validation_share : share of the latest distinct weeks used for validation
    base : config whose other fields the candidates keep
    """
    grid = grid or {
        "store_brand_level": (0.1, 1.0),
        "store_slope": (1.0, 10.0),
        "store_brand_slope": (10.0, 30.0, 100.0),
        "cross_price": (10.0, 100.0, 1000.0),
    }
    base = base or StoreElasticityConfig()
    known = {f.name for f in fields(StoreElasticityConfig)}
    unknown = sorted(set(grid) - known)
    if unknown or not all(len(values) for values in grid.values()):
        raise ValueError(
            f"grid must map StoreElasticityConfig fields {sorted(known)} to values; got {dict(grid)}"
        )
    train_rows, valid_rows = week_split(data, validation_share)
    train, valid = data.subset(train_rows), data.subset(valid_rows)
    x = _design(train)
    gram, xty = (x.T @ x).toarray(), np.asarray(x.T @ train.log_units).ravel()
    names = list(grid)
    results = []
    for values in itertools.product(*(grid[k] for k in names)):
        config = replace(base, **dict(zip(names, values, strict=True)))
        model = StoreElasticityModel(config)._fit_gram(train, gram, xty)
        rmse = float(np.sqrt(np.mean((model.predict(valid) - valid.log_units) ** 2)))
        results.append((config, rmse))
    best = min(results, key=lambda r: r[1])[0]
    return PenaltySearch(best, tuple(results))
