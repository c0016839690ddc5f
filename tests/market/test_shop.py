from __future__ import annotations

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.market import Market


def _fixed(batch: pp.market.MarketBatch, action: int) -> pp.Decision:
    n = batch.context.n
    actions = np.full(n, action)
    return pp.Decision.from_actions(batch.context, actions, np.ones(n), "fixed")


def test_observe_returns_consistent_context(market: Market) -> None:
    batch = market.observe(64)
    ctx = batch.context
    assert ctx.features.shape == (64, market.n_features)
    assert ctx.prices.shape == (64, market.n_actions)
    assert np.all(np.isfinite(ctx.features))
    np.testing.assert_allclose(ctx.prices[:, 4], ctx.list_prices)  # 1.0 is the middle of the ladder
    assert np.all(ctx.unit_costs < ctx.list_prices)


@pytest.mark.parametrize("action", [0, 4, 8])
def test_oracle_matches_monte_carlo(market: Market, action: int) -> None:
    """The oracle's expected reward of an action equals what the simulator pays out, within a 4-sigma
    interval of the exact variance of a sum of independent Bernoulli rewards."""
    n = 200_000
    batch = market.observe(n)
    p = market.oracle.purchase_probabilities(batch)[:, action]
    value = batch.context.value_if_bought[:, action]
    expected = market.oracle.expected_rewards(batch)[:, action].sum()
    realised = market.step(batch, _fixed(batch, action)).reward.sum()
    sd = np.sqrt(np.sum(p * (1 - p) * value**2))
    assert abs(realised - expected) < 4 * sd
    assert np.isclose(expected, np.sum(p * value))


def test_oracle_matches_monte_carlo_for_one_context() -> None:
    """One visitor, one item, one moment, replayed many times: the purchase frequency matches."""
    market = pp.market.make("ecommerce", seed=3, n_items=1, n_visitors=1, visits_per_day=10**9)
    n = 100_000
    batch = market.observe(n)
    truth = batch.truth
    assert np.ptp(truth.slope) == 0
    assert np.ptp(truth.base) < 1e-3  # only the within-day season moves, by a hair
    p = market.oracle.purchase_probabilities(batch)[:, 2]
    bought = market.step(batch, _fixed(batch, 2)).purchased
    assert abs(bought.mean() - p.mean()) < 4 * np.sqrt(p.mean() * (1 - p.mean()) / n)


def test_same_seed_same_traffic_and_outcomes() -> None:
    a, b = pp.market.make("ecommerce", seed=5), pp.market.make("ecommerce", seed=5)
    for _ in range(3):
        ba, bb = a.observe(500), b.observe(500)
        np.testing.assert_array_equal(ba.context.features, bb.context.features)
        oa, ob = a.step(ba, _fixed(ba, 2)), b.step(bb, _fixed(bb, 2))
        np.testing.assert_array_equal(oa.purchased, ob.purchased)
    c = pp.market.make("ecommerce", seed=6)
    assert not np.array_equal(c.observe(500).context.features, a.observe(500).context.features)


def test_traffic_does_not_depend_on_the_policy() -> None:
    """Common random numbers: the same visitors and items arrive whatever prices were charged."""
    a, b = pp.market.make("ecommerce", seed=1), pp.market.make("ecommerce", seed=1)
    for _ in range(5):
        ba, bb = a.observe(1000), b.observe(1000)
        np.testing.assert_array_equal(ba.context.visitor_ids, bb.context.visitor_ids)
        np.testing.assert_array_equal(ba.context.item_ids, bb.context.item_ids)
        np.testing.assert_array_equal(ba.truth.uniforms, bb.truth.uniforms)
        a.step(ba, _fixed(ba, 0))
        b.step(bb, _fixed(bb, 8))


def test_step_rejects_stale_or_mismatched_batches(market: Market) -> None:
    first = market.observe(10)
    second = market.observe(10)
    with pytest.raises(ValueError, match="latest observe"):
        market.step(first, _fixed(first, 0))
    with pytest.raises(ValueError, match="3 actions for a batch of 10"):
        market.step(second, pp.Decision(np.zeros(3, np.int64), np.ones(3), np.ones(3), "x"))
    market.step(second, _fixed(second, 0))
    with pytest.raises(ValueError, match="latest observe"):
        market.step(second, _fixed(second, 0))


def test_personalisation_has_something_to_win() -> None:
    market = pp.market.make("ecommerce", seed=0)
    batch = market.observe(100_000)
    expected = market.oracle.expected_rewards(batch)
    best_uniform = market.oracle.best_uniform_action()
    share = expected[:, best_uniform].mean() / expected.max(axis=1).mean()
    assert 0.8 < share < 0.97
    assert best_uniform == int(np.argmax(market.oracle.uniform_values()))


def test_reference_prices_drift_toward_shown_prices_and_loss_hurts() -> None:
    market = pp.market.make("reference-price", seed=0, n_visitors=10)
    visitor = np.zeros(1, dtype=np.int64)
    refs = []
    for _ in range(20):
        batch = market.observe(1, visitors=visitor)
        refs.append(batch.truth.reference[0])
        market.step(batch, _fixed(batch, 8))  # the highest price
    assert refs[0] == 0.0
    assert np.all(np.diff(refs) > 0)
    assert refs[-1] == pytest.approx(np.log(1.3), rel=0.01)
    # at a high reference a price cut reads as a gain; at a low one the same price reads as a loss
    batch = market.observe(1, visitors=visitor)
    p_high_ref = market.oracle.purchase_probabilities(batch)[0, 4]
    assert batch.context.features[0, -1] == pytest.approx(batch.truth.reference[0])
    market.reference[:] = np.log(0.7)
    market.step(batch, _fixed(batch, 4))
    batch = market.observe(1, visitors=visitor)
    assert market.oracle.purchase_probabilities(batch)[0, 4] < p_high_ref


def test_competitor_reacts_to_our_prices() -> None:
    high, low = pp.market.make("ecommerce", seed=2), pp.market.make("ecommerce", seed=2)
    for _ in range(60):
        bh, bl = high.observe(5_000), low.observe(5_000)
        high.step(bh, _fixed(bh, 8))
        low.step(bl, _fixed(bl, 0))
    assert high.dynamics.competitor.mean() > low.dynamics.competitor.mean() + 0.05


def test_mixed_objective_is_the_same_for_market_and_oracle() -> None:
    market = pp.market.make("reference-price", seed=0, objective="revenue=1,conversion=3,satisfaction=1")
    batch = market.observe(1_000)
    ctx = batch.context
    reference = ctx.list_prices * np.exp(batch.truth.reference)
    expected = ctx.prices + 3.0 + np.maximum(reference[:, None] - ctx.prices, 0.0)
    np.testing.assert_allclose(ctx.value_if_bought, expected)
    outcome = market.step(batch, _fixed(batch, 0))
    np.testing.assert_allclose(outcome.reward[outcome.purchased], expected[outcome.purchased, 0])
    assert market.oracle.uniform_values(10_000).shape == (market.n_actions,)
