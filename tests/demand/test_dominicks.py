"""Fits on the real Dominick's data (skipped when ../shared/data/dominicks_oj is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pricepilot.data.datasets import load_dominicks_oj
from pricepilot.demand import StoreElasticityConfig, StoreElasticityModel, oj_calibration, prepare_oj
from pricepilot.demand.evaluation import evaluate_holdout
from pricepilot.market.calibration import load_calibration


def _packaged_penalties() -> StoreElasticityConfig:
    notes = load_calibration("oj").notes
    return StoreElasticityConfig(
        store_brand_level=float(notes["penalty_store_brand_level"]),
        store_slope=float(notes["penalty_store_slope"]),
        store_brand_slope=float(notes["penalty_store_brand_slope"]),
        cross_price=float(notes["penalty_cross_price"]),
    )


def test_store_model_beats_pooled_loglog_on_held_out_weeks(dominicks_path: Path) -> None:
    data = prepare_oj(load_dominicks_oj(dominicks_path))
    c = _packaged_penalties()
    names = ("store_brand_level", "store_slope", "store_brand_slope", "cross_price")
    grid = {k: (getattr(c, k),) for k in names}
    result = evaluate_holdout(data, 0.2, grid)
    assert result.rmse_store_model < result.rmse_pooled < result.rmse_brand_store_mean
    assert result.pooled.elasticity_ < -1.5
    assert np.all(result.store_model.raw_elasticities_ < 0)  # negative without the cap


def test_packaged_calibration_is_reproducible_from_the_data(dominicks_path: Path) -> None:
    data = prepare_oj(load_dominicks_oj(dominicks_path))
    model = StoreElasticityModel(_packaged_penalties()).fit(data)
    packaged = load_calibration("oj")
    fresh = oj_calibration(data, model, float(packaged.notes["max_purchase_probability"]))
    np.testing.assert_allclose(fresh.elasticity, packaged.elasticity, atol=1e-5)
    np.testing.assert_allclose(fresh.sensitivity, packaged.sensitivity, atol=1e-5)
    np.testing.assert_allclose(fresh.taste, packaged.taste, atol=1e-5)
    np.testing.assert_allclose(fresh.list_price, packaged.list_price)
    assert fresh.config == packaged.config
    assert np.all(model.brand_elasticities() < 0)
