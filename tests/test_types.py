from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pricepilot.types import ContextBatch, Decision, Objective, PriceLadder


def test_linear_ladder_has_levels_and_coupons() -> None:
    ladder = PriceLadder.linear(0.7, 1.3, 9, coupons=(0.1,))
    assert ladder.n_actions == 10
    assert ladder.multipliers[0] == pytest.approx(0.7)
    assert ladder.multipliers[-1] == pytest.approx(1.3)
    assert ladder.factors[-1] == pytest.approx(0.9)
    assert ladder.is_coupon.tolist() == [False] * 9 + [True]
    assert ladder.index_of(1.0) == 4
    assert ladder.describe(9) == "coupon 10% off"
    np.testing.assert_allclose(ladder.prices(np.array([10.0]))[0, :2], [7.0, 7.75])


@pytest.mark.parametrize(
    ("multipliers", "coupons", "match"),
    [
        ([], [], "at least one"),
        ([1.0, 0.9], [], "strictly increasing"),
        ([-1.0, 1.0], [], "finite and positive"),
        ([1.0], [1.5], "fractions in"),
    ],
)
def test_bad_ladders_are_rejected(multipliers: list[float], coupons: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PriceLadder(np.array(multipliers), np.array(coupons))


def test_ladder_round_trips_through_dict() -> None:
    ladder = PriceLadder.linear(coupons=(0.05, 0.2))
    again = PriceLadder.from_dict(ladder.to_dict())
    np.testing.assert_array_equal(again.factors, ladder.factors)


@pytest.mark.parametrize(
    ("name", "price", "cost", "value"),
    [("revenue", 10.0, 6.0, 10.0), ("profit", 10.0, 6.0, 4.0), ("conversions", 10.0, 6.0, 1.0)],
)
def test_objective_presets(name: str, price: float, cost: float, value: float) -> None:
    got = Objective.named(name).value_if_bought(np.array([[price]]), np.array([cost]))
    assert got[0, 0] == pytest.approx(value)


def test_objective_mix_and_errors() -> None:
    mix = Objective.named("revenue=1,profit=0.5")
    assert (mix.revenue, mix.profit, mix.conversion) == (1.0, 0.5, 0.0)
    with pytest.raises(ValueError, match="unknown objective 'margin'"):
        Objective.named("margin")
    with pytest.raises(ValueError, match="profit must be finite and >= 0"):
        Objective(profit=-1.0)


def _context(n: int = 3) -> ContextBatch:
    ladder = PriceLadder.linear(0.9, 1.1, 3)
    lp = np.full(n, 10.0)
    prices = ladder.prices(lp)
    return ContextBatch(
        features=np.zeros((n, 2)),
        feature_names=("a", "b"),
        ladder=ladder,
        prices=prices,
        value_if_bought=prices - 5.0,
        list_prices=lp,
        unit_costs=np.full(n, 5.0),
        item_ids=np.arange(n),
        visitor_ids=np.arange(n),
    )


def test_context_batch_checks_shapes() -> None:
    ctx = _context()
    assert ctx.n == 3
    assert ctx.take(np.array([0, 2])).n == 2
    with pytest.raises(ValueError, match="feature_names has 1 names for 2 feature columns"):
        ContextBatch(
            features=ctx.features,
            feature_names=("a",),
            ladder=ctx.ladder,
            prices=ctx.prices,
            value_if_bought=ctx.value_if_bought,
            list_prices=ctx.list_prices,
            unit_costs=ctx.unit_costs,
            item_ids=ctx.item_ids,
            visitor_ids=ctx.visitor_ids,
        )
    with pytest.raises(ValueError, match=r"prices must have shape \(3, 3\)"):
        ContextBatch(
            features=ctx.features,
            feature_names=ctx.feature_names,
            ladder=ctx.ladder,
            prices=ctx.prices[:, :2],
            value_if_bought=ctx.value_if_bought,
            list_prices=ctx.list_prices,
            unit_costs=ctx.unit_costs,
            item_ids=ctx.item_ids,
            visitor_ids=ctx.visitor_ids,
        )


def test_decision_rejects_bad_propensity() -> None:
    ctx = _context()
    d = Decision.from_actions(ctx, np.array([0, 1, 2]), np.array([1.0, 0.5, 0.25]), "p")
    np.testing.assert_allclose(d.prices, [9.0, 10.0, 11.0])
    with pytest.raises(ValueError, match=r"row 1 has 0\.0"):
        Decision(np.array([0, 1]), np.array([1.0, 0.0]), np.array([1.0, 1.0]), "p")


def test_satisfaction_term_rewards_paying_under_the_reference() -> None:
    objective = Objective.named("revenue=1,conversion=2,satisfaction=0.5")
    value = objective.value_if_bought(np.array([[8.0, 12.0]]), np.array([5.0]), np.array([10.0]))
    np.testing.assert_allclose(value, [[8.0 + 2.0 + 0.5 * 2.0, 12.0 + 2.0]])
    with pytest.raises(ValueError, match="needs reference_prices"):
        objective.value_if_bought(np.array([[8.0]]), np.array([5.0]))


def test_context_batch_keeps_float64_and_int64_arrays_and_converts_the_rest() -> None:
    ctx = _context()
    again = dataclasses.replace(ctx)
    for name in (
        "features",
        "prices",
        "value_if_bought",
        "list_prices",
        "unit_costs",
        "item_ids",
        "visitor_ids",
    ):
        assert getattr(again, name) is getattr(ctx, name)
    converted = dataclasses.replace(
        ctx,
        features=ctx.features.astype(np.float32),
        prices=ctx.prices.tolist(),
        unit_costs=ctx.unit_costs.astype(">f8"),
        item_ids=ctx.item_ids.astype(np.int32),
        visitor_ids=ctx.visitor_ids.tolist(),
    )
    for name in ("features", "prices", "value_if_bought", "list_prices", "unit_costs"):
        value = getattr(converted, name)
        assert type(value) is np.ndarray
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, getattr(ctx, name))
    for name in ("item_ids", "visitor_ids"):
        assert getattr(converted, name).dtype == np.int64
        np.testing.assert_array_equal(getattr(converted, name), getattr(ctx, name))
    with pytest.raises(ValueError, match="item_ids must hold integers, got dtype float64"):
        dataclasses.replace(ctx, item_ids=ctx.item_ids.astype(np.float64))
    with pytest.raises(ValueError, match=r"unit_costs has 2 rows, expected 3 \(one per context\)"):
        dataclasses.replace(ctx, unit_costs=ctx.unit_costs[:2])
    with pytest.raises(ValueError, match=r"features must have 2 dimension\(s\), got shape \(3,\)"):
        dataclasses.replace(ctx, features=ctx.features[:, 0])
