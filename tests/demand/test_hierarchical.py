from __future__ import annotations

import numpy as np
import pytest

from pricepilot.demand import (
    PooledLogLog,
    StoreElasticityConfig,
    StoreElasticityModel,
    evaluate_holdout,
    prepare_oj,
    tune_penalties,
)
from tests.demand.conftest import SyntheticOJ


def test_recovers_known_store_elasticities(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    model = StoreElasticityModel().fit(data)
    error = model.elasticities() - synthetic_oj.elasticity
    assert np.abs(error).mean() < 0.1
    assert np.abs(error).max() < 0.4
    np.testing.assert_allclose(model.brand_elasticities(), synthetic_oj.elasticity.mean(axis=0), atol=0.1)
    # The truth moves with the competitors' index (1.0, shared out evenly over the 10 other brands).
    assert model.competitor_elasticities().mean() == pytest.approx(1.0, abs=0.1)
    cross = model.cross_elasticities()
    assert np.all(np.diag(cross) == 0.0)
    assert np.abs(cross[~np.eye(11, dtype=bool)] - 0.1).mean() < 0.1
    np.testing.assert_allclose(model.brand_feat_, 0.6, atol=0.05)
    assert model.n_capped_ == 0


def test_store_model_beats_pooled_on_held_out_weeks(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    grid = {"store_slope": (1.0, 100.0), "cross_price": (100.0,)}
    result = evaluate_holdout(data, 0.2, grid)
    assert result.rmse_store_model < min(result.rmse_pooled, result.rmse_brand_store_mean)
    assert result.rmse_store_model < 0.2  # close to the noise sd of 0.15
    assert len(result.search.candidates) == 2
    assert result.n_train + result.n_test == data.n_rows


def test_heavier_pooling_pulls_stores_together(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    loose = StoreElasticityModel(StoreElasticityConfig(store_slope=0.1, store_brand_slope=0.1)).fit(data)
    tight = StoreElasticityModel(StoreElasticityConfig(store_slope=1e6, store_brand_slope=1e6)).fit(data)
    # (12 stores and 11 demographics: the demographic terms leave the store deviations little to explain)
    assert np.abs(tight.store_slope_).max() < 1e-3
    assert np.abs(tight.store_brand_slope_).max() < 0.01 < np.abs(loose.store_brand_slope_).max()


def test_elasticities_are_capped_below_zero(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    model = StoreElasticityModel(StoreElasticityConfig(max_elasticity=-2.0)).fit(data)
    assert model.elasticities().max() == -2.0
    assert model.n_capped_ == int(np.sum(model.raw_elasticities_ > -2.0)) > 0


def test_pooled_has_one_elasticity(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    pooled = PooledLogLog().fit(data)
    assert pooled.elasticity_ == pytest.approx(synthetic_oj.elasticity.mean(), abs=0.3)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("store_slope", 0.0, r"StoreElasticityConfig.store_slope = 0.0: must be finite and > 0"),
        ("fixed", float("inf"), r"StoreElasticityConfig.fixed = inf"),
        ("max_elasticity", 0.5, r"StoreElasticityConfig.max_elasticity = 0.5: must be < 0"),
    ],
)
def test_bad_config_is_named(field: str, value: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StoreElasticityConfig(**{field: value})


def test_bad_grid_is_named(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    with pytest.raises(
        ValueError, match=r"grid must map StoreElasticityConfig fields .* got \{'store_slop': \(1.0,\)\}"
    ):
        tune_penalties(data, {"store_slop": (1.0,)})


def test_unfitted_model_raises(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        StoreElasticityModel().predict(data)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        PooledLogLog().predict(data)
