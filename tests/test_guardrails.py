from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricepilot.guardrails import GuardrailConfig, Guardrails, Intervention, PriceHistory, explain
from pricepilot.types import ContextBatch, Decision, PriceLadder

LADDER = PriceLadder(np.array([0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]))


def batch(
    list_prices: Any,
    costs: Any,
    items: Any = None,
    ladder: PriceLadder = LADDER,
    features: Any = None,
    names: tuple[str, ...] = ("x",),
) -> ContextBatch:
    lp = np.asarray(list_prices, dtype=np.float64)
    cost = np.asarray(costs, dtype=np.float64)
    n = lp.size
    feats = np.zeros((n, len(names))) if features is None else np.asarray(features, dtype=np.float64)
    prices = ladder.prices(lp)
    return ContextBatch(
        features=feats,
        feature_names=names,
        ladder=ladder,
        prices=prices,
        value_if_bought=prices - cost[:, None],
        list_prices=lp,
        unit_costs=cost,
        item_ids=np.arange(n) if items is None else np.asarray(items, dtype=np.int64),
        visitor_ids=np.arange(n),
    )


def decide(contexts: ContextBatch, actions: Any) -> Decision:
    acts = np.asarray(actions, dtype=np.int64)
    return Decision.from_actions(contexts, acts, np.full(acts.size, 0.5), "test@1")


def serve(guard: Guardrails, contexts: ContextBatch, actions: Any, day: int = 1, out: Any = None) -> Any:
    opted = np.zeros(contexts.n, bool) if out is None else np.asarray(out, bool)
    return guard.apply(contexts, decide(contexts, actions), day, opted)


LOOSE = {"ceiling_multiple": 2.0, "max_discount": 0.9, "max_daily_change": np.inf}


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_margin": -0.1}, "min_margin must be"),
        ({"min_margin": np.nan}, "min_margin must be"),
        ({"min_margin_absolute": -1.0}, "min_margin_absolute must be"),
        ({"ceiling_multiple": 0.9}, "ceiling_multiple must be"),
        ({"max_discount": 1.0}, "max_discount must be"),
        ({"max_discount": -0.1}, "max_discount must be"),
        ({"max_daily_change": 0.0}, "max_daily_change must be"),
        ({"max_daily_change": "big"}, "max_daily_change must be"),
        ({"protected": "gender"}, "protected must be"),
        ({"protected": ("age", "")}, "protected must be"),
        ({"reference_window_days": 0}, "reference_window_days must be"),
        ({"reference_window_days": 2.5}, "reference_window_days must be"),
        ({"fallback_action": -1}, "fallback_action must be"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GuardrailConfig(**kwargs)


def test_bad_history_and_guardrails_setup() -> None:
    with pytest.raises(ValueError, match="keep_days"):
        PriceHistory(keep_days=0)
    with pytest.raises(ValueError, match="fewer than reference_window_days"):
        Guardrails(GuardrailConfig(reference_window_days=30), PriceHistory(keep_days=7))
    history = PriceHistory(keep_days=7)
    with pytest.raises(ValueError, match="longer than this history keeps"):
        history.lowest_prices([1], day=3, window=8)
    history.record([1], [10.0], day=5)
    with pytest.raises(ValueError, match="item 1 already has prices for a day after 4"):
        history.record([1], [10.0], day=4)
    with pytest.raises(ValueError, match="fallback_action 9 is outside the ladder"):
        serve(Guardrails(GuardrailConfig(fallback_action=9)), batch([10.0], [5.0]), [3], out=[True])


# ------------------------------------------------------------------ protected attributes


def test_protected_columns_match_whole_words() -> None:
    names = ("visitor_age_band", "average_basket", "page_views", "Gender", "ethnicity_group", "AgeYears")
    guard = Guardrails()
    assert guard.protected_columns(names) == [0, 3, 4, 5]
    custom = Guardrails(GuardrailConfig(protected=("page views", "income")))
    assert custom.protected_columns([*names, "visitor_income_band"]) == [2, 6]


def test_strip_protected_removes_the_columns() -> None:
    names = ("visitor_age_band", "visitor_gender_f", "spend", "item_quality")
    feats = np.arange(8.0).reshape(2, 4)
    stripped = Guardrails().strip_protected(batch([10.0, 20.0], [5.0, 5.0], features=feats, names=names))
    assert stripped.feature_names == ("spend", "item_quality")
    np.testing.assert_array_equal(stripped.features, feats[:, 2:])


# ------------------------------------------------------------------ each rule by hand


def test_floor_is_cost_plus_margin() -> None:
    guard = Guardrails(GuardrailConfig(min_margin=0.1, **LOOSE))
    served = serve(guard, batch([10.0, 10.0], [8.0, 5.0]), [0, 0])  # both ask 7.00
    np.testing.assert_allclose(served.prices, [8.8, 7.0])
    assert served.interventions.tolist() == [Intervention.FLOOR, 0]
    assert served.binding.tolist() == [Intervention.FLOOR, 0]
    assert served.actions.tolist() == [-1, 0]
    assert "cost floor" in explain(served)[0]
    assert "chosen by the policy" in explain(served)[1]
    absolute = Guardrails(GuardrailConfig(min_margin=0.1, min_margin_absolute=2.0, **LOOSE))
    np.testing.assert_allclose(serve(absolute, batch([10.0], [6.0]), [0]).prices, [8.0])


def test_ceiling_and_max_discount() -> None:
    guard = Guardrails(GuardrailConfig(ceiling_multiple=1.15, max_discount=0.15, max_daily_change=np.inf))
    served = serve(guard, batch([10.0, 10.0, 10.0], [1.0, 1.0, 1.0]), [6, 0, 3])
    np.testing.assert_allclose(served.prices, [11.5, 8.5, 10.0])
    assert served.binding.tolist() == [Intervention.CEILING, Intervention.MAX_DISCOUNT, 0]
    assert "ceiling" in served.explain()[0]
    assert "discount" in served.explain()[1]


def test_daily_change_relative_to_last_served_price_else_list() -> None:
    guard = Guardrails(GuardrailConfig(max_daily_change=0.1, ceiling_multiple=2.0, max_discount=0.9))
    first = serve(guard, batch([10.0], [1.0], items=[7]), [6], day=0)  # no history: relative to list
    np.testing.assert_allclose(first.prices, [11.0])
    assert first.binding.tolist() == [Intervention.DAILY_CHANGE]
    second = serve(guard, batch([10.0], [1.0], items=[7]), [6], day=1)  # relative to 11.00
    np.testing.assert_allclose(second.prices, [12.1])
    same_day = serve(guard, batch([10.0], [1.0], items=[7]), [6], day=1)  # still relative to day 0
    np.testing.assert_allclose(same_day.prices, [12.1])
    assert guard.history.last_price(7, day=2) == pytest.approx(12.1)


def test_allowed_actions_and_fallback_when_none_allowed() -> None:
    guard = Guardrails(GuardrailConfig(min_margin=0.0, max_discount=0.15, ceiling_multiple=1.15))
    contexts = batch([10.0, 10.0], [9.45, 1.0])
    mask = guard.allowed_actions(contexts, day=0)
    assert mask[1].tolist() == [False, False, True, True, True, False, False]
    assert mask[0].tolist() == [False, False, False, True, True, False, False]
    guard = Guardrails(GuardrailConfig(ceiling_multiple=1.05))
    tight = batch([10.0], [10.2])  # allowed 10.20 .. 10.50: between the ladder's 10.00 and 11.00
    assert not guard.allowed_actions(tight, day=0).any()
    served = serve(guard, tight, [5], day=0)
    np.testing.assert_allclose(served.prices, [10.2])  # list price clipped to the floor
    assert Intervention.NO_ALLOWED_ACTION & served.interventions[0]
    assert not served.personalised[0]
    assert "no ladder price" in served.explain()[0]


def test_cost_above_ceiling_gives_the_ceiling_and_flags_conflict() -> None:
    guard = Guardrails(GuardrailConfig(ceiling_multiple=1.2, min_margin=0.1))
    served = serve(guard, batch([10.0], [12.0]), [3], day=0)
    np.testing.assert_allclose(served.prices, [12.0])
    assert Intervention.CONFLICT & served.interventions[0]
    assert "conflicted" in served.explain()[0]


def test_opt_out_gets_the_nonpersonalised_price() -> None:
    guard = Guardrails(GuardrailConfig(**LOOSE))
    contexts = batch([10.0, 10.0, 10.0], [1.0, 1.0, 1.0])
    served = serve(guard, contexts, [0, 0, 3], out=[True, False, False])
    np.testing.assert_allclose(served.prices, [10.0, 7.0, 10.0])
    assert served.personalised.tolist() == [False, True, False]  # row 2: same as non-personalised
    assert served.interventions.tolist() == [Intervention.OPT_OUT, 0, 0]
    assert served.actions.tolist() == [3, 0, 3]
    assert served.decision.actions.tolist() == [0, 0, 3]  # the policy's choice is kept for audit
    assert "opted out" in served.explain()[0]
    fixed = Guardrails(GuardrailConfig(fallback_action=2, **LOOSE))
    np.testing.assert_allclose(serve(fixed, contexts, [6, 6, 6], out=[True] * 3).prices, [9.0] * 3)


def test_served_action_and_served_propensity() -> None:
    guard = Guardrails(GuardrailConfig(ceiling_multiple=1.1, max_daily_change=np.inf))
    contexts = batch([10.0], [1.0])
    probs = np.full((1, LADDER.n_actions), 1 / LADDER.n_actions)
    out = guard.apply(contexts, decide(contexts, [6]), 0, [False], probabilities=probs)
    assert out.prices.tolist() == pytest.approx([11.0])
    assert out.actions.tolist() == [4]  # the ceiling is itself on the ladder
    assert out.served_propensities is not None
    assert out.served_propensities.tolist() == pytest.approx([3 / 7])  # 1.1, 1.2 and 1.3 all serve 11


# ------------------------------------------------------------------ history and the 30-day reference


def test_discount_is_measured_against_the_lowest_price_of_30_days() -> None:
    guard = Guardrails(GuardrailConfig(**LOOSE))
    one = batch([10.0], [1.0], items=[3])
    serve(guard, one, [0], day=0)  # 7.00 on day 0
    serve(guard, one, [3], day=10)  # 10.00 on day 10
    at_20 = serve(guard, one, [2], day=20)  # 9.00 against 7.00: no discount may be shown
    assert at_20.reference_prices.tolist() == pytest.approx([7.0])
    assert at_20.discount_shown.tolist() == [0.0]
    assert guard.history.lowest_price(3, day=30) == pytest.approx(7.0)  # days 0..29
    at_31 = serve(guard, one, [1], day=31)  # days 1..30: lowest is 9.00; 8.00 is 1/9 off
    assert at_31.reference_prices.tolist() == pytest.approx([9.0])
    assert at_31.discount_shown.tolist() == pytest.approx([1 / 9])
    new_item = serve(guard, batch([20.0], [1.0], items=[4]), [1], day=31)
    assert new_item.reference_prices.tolist() == [20.0]  # no history: measured against list price
    assert new_item.discount_shown.tolist() == pytest.approx([0.2])


def test_history_round_trips_and_keeps_last_price_beyond_its_window() -> None:
    history = PriceHistory(keep_days=3)
    history.record([5, 2, 5], [10.0, 4.0, 9.0], day=1)
    history.record([5], [12.0], day=40)
    assert history.last_price(5, day=40) == 9.0  # the last of day 1, long evicted from the ring
    assert history.last_price(5, day=41) == 12.0
    assert np.isnan(history.last_price(2, day=1))
    assert np.isnan(history.last_price(99, day=50))
    assert history.lowest_price(2, day=3, window=3) == 4.0
    assert np.isnan(history.lowest_price(5, day=40, window=3))
    copy = PriceHistory.from_dict(json.loads(json.dumps(history.to_dict())))
    for item, day in [(5, 40), (5, 41), (2, 3)]:
        assert copy.last_price(item, day) == history.last_price(item, day)
        np.testing.assert_equal(copy.lowest_price(item, day, 3), history.lowest_price(item, day, 3))


# ------------------------------------------------------------------ properties


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Guardrails, ContextBatch, Decision, np.ndarray, int]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mult = np.unique(np.round(rng.uniform(0.3, 2.0, draw(st.integers(1, 8))), 3))
    coupons = np.unique(np.round(rng.uniform(0.05, 0.6, draw(st.integers(0, 3))), 3))
    ladder = PriceLadder(mult, coupons)
    config = GuardrailConfig(
        min_margin=draw(st.floats(0.0, 0.5)),
        min_margin_absolute=draw(st.floats(0.0, 3.0)),
        ceiling_multiple=draw(st.floats(1.0, 2.0)),
        max_discount=draw(st.floats(0.0, 0.9)),
        max_daily_change=draw(st.sampled_from([0.05, 0.2, 1.0, np.inf])),
        fallback_action=draw(st.sampled_from([None, 0])),
    )
    history = PriceHistory(keep_days=30)
    for day in sorted(rng.choice(30, size=draw(st.integers(0, 4)), replace=False)):
        size = int(rng.integers(1, 6))
        history.record(rng.integers(0, 5, size), rng.uniform(0.5, 150.0, size), int(day))
    n = draw(st.integers(1, 8))
    lp = rng.uniform(1.0, 100.0, n)
    contexts = batch(lp, lp * rng.uniform(0.1, 1.5, n), rng.integers(0, 5, n), ladder)
    decision = decide(contexts, rng.integers(0, ladder.n_actions, n))
    return Guardrails(config, history), contexts, decision, rng.random(n) < 0.3, 30


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_no_served_price_breaks_a_guardrail(case: Any) -> None:
    guard, contexts, decision, out, day = case
    c, lp, cost = guard.config, contexts.list_prices, contexts.unit_costs
    last = guard.history.last_prices(contexts.item_ids, day)
    last = np.where(np.isnan(last), lp, last)
    allowed = guard.allowed_actions(contexts, day)
    served = guard.apply(contexts, decision, day, out)
    p, tol = served.prices, 1e-9 * np.maximum(lp, 1.0)
    floor = cost + np.maximum(c.min_margin * cost, c.min_margin_absolute)
    ceiling, lowest = c.ceiling_multiple * lp, (1 - c.max_discount) * lp
    assert np.all(p <= ceiling + tol)
    assert np.all(p >= lowest - tol)
    assert np.all((p >= floor - tol) | (floor > ceiling))
    static_lo = np.clip(np.maximum(floor, lowest), None, ceiling)
    band_lo, band_hi = last * (1 - min(c.max_daily_change, 1.0)), last * (1 + c.max_daily_change)
    feasible = (band_lo <= ceiling) & (band_hi >= static_lo)
    assert np.all(~feasible | (np.abs(p / last - 1) <= c.max_daily_change + 1e-9))
    assert np.all(feasible | (served.interventions & Intervention.CONFLICT))
    untouched = ~out & allowed[np.arange(contexts.n), decision.actions]
    np.testing.assert_allclose(p[untouched], decision.prices[untouched], rtol=1e-12)
    assert np.all(served.discount_shown >= 0)
    assert np.all(served.discount_shown < 1)
    assert not np.any(served.personalised & out)
    on_ladder = served.actions >= 0
    np.testing.assert_allclose(contexts.prices[on_ladder, served.actions[on_ladder]], p[on_ladder])


class LinearPolicy:
    """Deterministic: the action with the highest linear score of the features it is given."""

    name = "linear_test"

    def __init__(self, ladder: PriceLadder, n_features: int) -> None:
        self.ladder = ladder
        self.weights = np.random.default_rng(n_features).normal(size=(n_features, ladder.n_actions))

    def act(self, contexts: ContextBatch) -> Decision:
        actions = (contexts.features @ self.weights).argmax(axis=1)
        return decide(contexts, actions)


NAMES = ("visitor_gender_f", "visitor_age_band", "visitor_spend", "ethnicity", "item_quality")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_price_does_not_depend_on_protected_attributes(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    guard = Guardrails(GuardrailConfig(min_margin=0.05, max_daily_change=0.2))
    guard.history.record(rng.integers(0, 3, 4), rng.uniform(5.0, 15.0, 4), day=0)
    lp, items = rng.uniform(5.0, 15.0, n), rng.integers(0, 3, n)
    feats = rng.normal(size=(n, len(NAMES)))
    other = feats.copy()
    protected = guard.protected_columns(NAMES)
    assert protected == [0, 1, 3]
    other[:, protected] = rng.normal(size=(n, len(protected))) * 10
    policy = LinearPolicy(LADDER, len(NAMES) - len(protected))
    out = rng.random(n) < 0.2
    one = guard.decide(policy, batch(lp, lp * 0.5, items, features=feats, names=NAMES), 1, out, record=False)
    two = guard.decide(policy, batch(lp, lp * 0.5, items, features=other, names=NAMES), 1, out, record=False)
    np.testing.assert_array_equal(one.prices, two.prices)


def test_without_stripping_the_policy_would_use_protected_attributes() -> None:
    policy = LinearPolicy(LADDER, len(NAMES))
    feats = np.zeros((1, len(NAMES)))
    actions = set()
    for value in np.linspace(-5, 5, 21):
        feats[0, 0] = value
        actions.add(int(policy.act(batch([10.0], [5.0], features=feats, names=NAMES)).actions[0]))
    assert len(actions) > 1  # so the invariance above is the guardrails' doing, not the policy's
