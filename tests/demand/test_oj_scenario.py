"""The calibrated ``oj`` market: packaged parameters, the simulator's elasticity, the benchmark."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.demand import StoreElasticityModel, oj_calibration, prepare_oj
from pricepilot.market import MarketConfig
from pricepilot.market.calibration import Calibration, load_calibration, read_calibration, save_calibration
from pricepilot.market.demand import purchase_probabilities
from tests.demand.conftest import SyntheticOJ


def _implied_elasticity(market: pp.market.Market, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Own-price elasticity of P(buy) at list price for ``n`` visits (central difference in log price)."""
    visitors = np.arange(n) % market.visitors.n_visitors
    batch = market.observe(n, visitors=visitors)
    t = batch.truth
    h = 1e-5
    p = purchase_probabilities(t.base, t.slope, t.reference, np.array([-h, h]), np.zeros(2), market.response)
    return (np.log(p[:, 1]) - np.log(p[:, 0])) / (2 * h), t.visitor_index, t.item_index


def test_packaged_params_load_and_oj_is_a_scenario() -> None:
    cal = load_calibration("oj")
    assert (cal.n_segments, cal.n_items) == (83, 11)
    assert "oj" in pp.market.available()
    config = pp.market.scenario("oj")
    assert (config.n_visitors, config.n_items, config.calibration) == (83, 11, "oj")
    assert np.all(cal.elasticity < 0)
    assert np.all(cal.unit_cost < cal.list_price)
    p = cal.purchase_probability()
    assert p.min() > 0
    assert p.max() == pytest.approx(cal.notes["max_purchase_probability"], abs=1e-4)
    assert float(cal.notes["holdout_rmse_store_model"]) < float(cal.notes["holdout_rmse_pooled_loglog"])


def test_simulator_elasticity_matches_the_fit() -> None:
    cal = load_calibration("oj")
    market = pp.market.make("oj", seed=1, promo_start_rate=0.0, yearly_amplitude=0.0)
    implied, store, brand = _implied_elasticity(market, 5_000)
    np.testing.assert_allclose(implied, cal.elasticity[store, brand], atol=2e-4)
    # Every store and brand was checked.
    assert np.unique(store * 11 + brand).size > 0.9 * 83 * 11


def test_simulator_arc_elasticity_on_the_ladder_is_close_to_the_fit() -> None:
    cal = load_calibration("oj")
    market = pp.market.make("oj", seed=2, promo_start_rate=0.0, yearly_amplitude=0.0)
    batch = market.observe(3_000)
    ladder = market.ladder.factors
    lo, hi = ladder.tolist().index(0.925), ladder.tolist().index(1.075)
    p = market.oracle.purchase_probabilities(batch)
    arc = (np.log(p[:, hi]) - np.log(p[:, lo])) / (np.log(ladder[hi]) - np.log(ladder[lo]))
    fitted = cal.elasticity[batch.truth.visitor_index, batch.truth.item_index]
    np.testing.assert_allclose(arc, fitted, rtol=0.05)


def test_oj_runs_through_the_benchmark() -> None:
    report = pp.evaluation.benchmark(
        pp.market.scenario("oj"),
        {name: name for name in ("best_uniform", "thompson", "lints", "logistic_ts")},
        visits=3_000,
        seeds=[0],
    )
    table = report.table()
    assert sorted(table["policy"]) == ["best_uniform", "lints", "logistic_ts", "thompson"]
    assert np.all((table["reward_to_oracle"] > 0.3) & (table["reward_to_oracle"] <= 1.0 + 1e-9))


def test_calibrated_sizes_must_match() -> None:
    with pytest.raises(ValueError, match=r"MarketConfig.n_visitors = 10: calibration 'oj' needs 83"):
        pp.market.scenario("oj", n_visitors=10)
    with pytest.raises(ValueError, match=r"MarketConfig.calibration = 'nope': no packaged calibration"):
        MarketConfig(calibration="nope")


def test_calibration_of_a_synthetic_fit_round_trips(synthetic_oj: SyntheticOJ, tmp_path: Path) -> None:
    data = prepare_oj(synthetic_oj.data)
    model = StoreElasticityModel().fit(data)
    cal = oj_calibration(data, model, max_purchase_probability=0.2)
    p0 = cal.purchase_probability()
    assert p0.max() == pytest.approx(0.2)
    # The slope reproduces the fitted elasticity at list price: -slope * (1 - P0) = e.
    np.testing.assert_allclose(-cal.sensitivity * (1 - p0), model.elasticities(), rtol=1e-5)
    back = read_calibration(save_calibration(cal, tmp_path / "oj.json"))
    np.testing.assert_allclose(back.sensitivity, cal.sensitivity, atol=1e-6)
    assert back.config == cal.config
    assert back.item_names == cal.item_names
    with pytest.raises(ValueError, match=r"max_purchase_probability must lie in \(0, 1\), got 1.5"):
        oj_calibration(data, model, max_purchase_probability=1.5)


def test_bad_calibration_is_named() -> None:
    cal = load_calibration("oj")
    with pytest.raises(ValueError, match=r"taste has shape \(83, 10\), expected \(83, 11\)"):
        replace(cal, taste=cal.taste[:, :10])
    with pytest.raises(ValueError, match=r"need 0 < unit_cost < list_price"):
        replace(cal, unit_cost=cal.list_price * 1.1)
    data = cal.to_dict() | {"format_version": 0}
    with pytest.raises(ValueError, match="format_version 0 is not 1"):
        Calibration.from_dict(data)
