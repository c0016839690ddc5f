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


# ------------------------------------------------------------------ against a plain reference
# Guardrails.apply and PriceHistory's look-ups take shortcuts for speed (the last price from the latest
# day and the day before instead of scanning the ring; answers kept per day between records of that
# day). These tests hold them to a direct, row-by-row reading of the rules, bit for bit.


def reference_last(history: PriceHistory, item: int, day: int) -> float:
    """The last price of ``item`` before ``day``: the latest of the ring's days, the latest day and the
    day before that is before ``day`` (the ring first on equal days), NaN if none."""
    rows = np.flatnonzero(history.ids_ == item)
    if rows.size == 0:
        return np.nan
    r = int(rows[0])
    ring = [int(d) if d < day else -1 for d in history.days_[r]]
    j = ring.index(max(ring))
    best, price = float(ring[j]), float(history.last_[r, j])
    for d, p in (history.before_[r], history.latest_[r]):
        if 0 <= d < day and d > best:
            best, price = float(d), float(p)
    return price if best >= 0 else np.nan


def reference_lowest(history: PriceHistory, item: int, day: int, window: int) -> float:
    """The lowest price of ``item`` served on days ``day - window .. day - 1`` (NaN if none)."""
    rows = np.flatnonzero(history.ids_ == item)
    if rows.size == 0:
        return np.nan
    r = int(rows[0])
    inside = [
        float(p)
        for d, p in zip(history.days_[r], history.lowest_[r], strict=True)
        if max(day - window, 0) <= d < day
    ]
    low = np.inf if not inside else (np.nan if any(np.isnan(inside)) else min(inside))
    return low if np.isfinite(low) else np.nan


def reference_apply(
    guard: Guardrails,
    contexts: ContextBatch,
    decision: Decision,
    day: int,
    out: np.ndarray,
    probs: np.ndarray,
) -> dict[str, np.ndarray]:
    """Guardrails.apply written out plainly (the rules of the module docstring, one array at a time)."""
    c, lp, cost, prices = guard.config, contexts.list_prices, contexts.unit_costs, contexts.prices
    items = contexts.item_ids.tolist()
    last = np.array([reference_last(guard.history, i, day) for i in items])
    last = np.where(np.isnan(last), lp, last)
    floor = cost + np.maximum(c.min_margin * cost, c.min_margin_absolute)
    law_lo, law_hi = (1.0 - c.max_discount) * lp, c.ceiling_multiple * lp
    band_lo, band_hi = (1.0 - min(c.max_daily_change, 1.0)) * last, (1.0 + c.max_daily_change) * last
    static_lo = np.minimum(np.maximum(floor, law_lo), law_hi)
    lo = np.maximum(static_lo, np.minimum(band_lo, law_hi))
    hi = np.minimum(law_hi, np.maximum(band_hi, static_lo))
    tol = 1e-9 * np.maximum(1.0, lp)
    conflict = (floor > law_hi + tol) | (band_lo > law_hi + tol) | (band_hi < static_lo - tol)
    fallback = guard.nonpersonalised_prices(contexts)
    none_allowed = ~((prices >= (lo - tol)[:, None]) & (prices <= (hi + tol)[:, None])).any(axis=1)
    intended = np.where(out | none_allowed, fallback, decision.prices)
    served = np.clip(intended, lo, hi)
    flags = np.where(out, Intervention.OPT_OUT, 0) | np.where(
        none_allowed & ~out, Intervention.NO_ALLOWED_ACTION, 0
    )
    flags |= np.where(conflict, Intervention.CONFLICT, 0)
    lower, upper = np.stack([floor, law_lo, band_lo]), np.stack([law_hi, band_hi])
    broke_lo, broke_hi = intended < lower - tol, intended > upper + tol
    lo_rules = np.array([Intervention.FLOOR, Intervention.MAX_DISCOUNT, Intervention.DAILY_CHANGE])
    hi_rules = np.array([Intervention.CEILING, Intervention.DAILY_CHANGE])
    for rules, broke in ((lo_rules, broke_lo), (hi_rules, broke_hi)):
        for rule, row in zip(rules, broke, strict=True):
            flags |= np.where(row, rule, 0)
    by_lo = lo_rules[np.where(broke_lo, lower, -np.inf).argmax(axis=0)]
    by_hi = hi_rules[np.where(broke_hi, upper, np.inf).argmin(axis=0)]
    binding = np.where(served > intended + tol, by_lo, np.where(served < intended - tol, by_hi, 0))
    same = np.isclose(prices, served[:, None], rtol=1e-9, atol=1e-12)
    actions = np.where(same.any(axis=1), same.argmax(axis=1), -1)
    acts, k = decision.actions, prices.shape[1]
    own = (acts >= 0) & (acts < k) & same[np.arange(contexts.n), np.clip(acts, 0, k - 1)]
    actions = np.where(own & ~out & ~none_allowed, acts, actions)
    fallback_served = np.clip(fallback, lo, hi)
    reference = np.array([reference_lowest(guard.history, i, day, c.reference_window_days) for i in items])
    reference = np.where(np.isnan(reference), lp, reference)
    hit = np.isclose(np.clip(prices, lo[:, None], hi[:, None]), served[:, None], rtol=1e-9, atol=1e-12)
    return {
        "prices": served,
        "actions": actions.astype(np.int64),
        "nonpersonalised_prices": fallback_served,
        "personalised": ~out & ~none_allowed & ~np.isclose(served, fallback_served, rtol=1e-9, atol=1e-12),
        "interventions": flags.astype(np.int64),
        "binding": binding.astype(np.int64),
        "reference_prices": reference,
        "discount_shown": np.maximum(0.0, 1.0 - served / np.maximum(reference, 1e-12)),
        "served_propensities": np.where(out | none_allowed, 1.0, (probs * hit).sum(axis=1)),
    }


def reference_explain(prices: np.ndarray, flags: np.ndarray, binding: np.ndarray) -> list[str]:
    """explain's lines built row by row, with no cache of the texts."""
    texts = {
        Intervention.FLOOR: "raised to the cost floor (unit cost plus minimum margin)",
        Intervention.MAX_DISCOUNT: "raised to the largest discount allowed off the list price",
        Intervention.CEILING: "lowered to the price ceiling",
        Intervention.DAILY_CHANGE: "held within the largest daily change from the item's last price",
    }
    lines = []
    for price, flag, rule in zip(prices.tolist(), flags.tolist(), binding.tolist(), strict=True):
        if flag & Intervention.OPT_OUT:
            text = f"{price:.2f}: non-personalised price: the visitor opted out of personalisation"
        elif flag & Intervention.NO_ALLOWED_ACTION:
            text = f"{price:.2f}: non-personalised price: no ladder price satisfied every guardrail"
        else:
            text = f"{price:.2f}: price chosen by the policy"
        if rule:
            text += f", {texts[Intervention(rule)]}"
        if flag & Intervention.CONFLICT:
            text += " (rules conflicted; the weaker one gave way)"
        lines.append(text)
    return lines


def assert_same_bits(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype, what
    np.testing.assert_array_equal(got, want, err_msg=what)  # NaN where NaN, else equal


def tampered(history: PriceHistory, rng: np.random.Generator) -> PriceHistory:
    """The history read back from its dict, now and then changed so that it no longer looks as
    ``record`` leaves it (a day in the wrong column of the ring, a day before after the latest day)."""
    data = history.to_dict()
    m, k = len(data["ids"]), history.keep_days
    if m and rng.random() < 0.7:
        r, j = int(rng.integers(0, m)), int(rng.integers(0, k))
        if rng.random() < 0.5:
            latest, before = int(data["latest"][r][0]), int(data["before"][r][0])
            data["days"][r][j] = int(rng.choice([latest, before, rng.integers(0, max(latest, 0) + 1)]))
        else:
            data["before"][r][0] = data["latest"][r][0] + 3.0
    return PriceHistory.from_dict(data)


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")  # inf * 0.00
@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_apply_and_lookups_match_the_plain_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    window = int(rng.integers(1, 5))
    config = GuardrailConfig(
        min_margin=float(rng.choice([0.0, 0.1, 0.5])),
        min_margin_absolute=float(rng.choice([0.0, 2.0])),
        ceiling_multiple=float(rng.choice([1.0, 1.2, 2.0])),
        max_discount=float(rng.choice([0.0, 0.2, 0.6])),
        max_daily_change=float(rng.choice([0.05, 0.25, 1.0, np.inf])),
        reference_window_days=window,
        fallback_action=[None, 2][int(rng.integers(0, 2))],
    )
    # keep_days == window: recording a day evicts the oldest day of that day's own window
    guard = Guardrails(config, PriceHistory(window + int(rng.integers(0, 2))))
    lp_of, day = rng.uniform(1.0, 100.0, 12), int(rng.integers(0, 20))
    for _ in range(6):
        day += int(rng.choice([0, 1, 1, 1, 2, 9]))
        n = int(rng.integers(1, 12))
        items = rng.integers(0, 12, n)  # repeats in a batch, and new items
        contexts = batch(lp_of[items], lp_of[items] * rng.uniform(0.2, 1.3, n), items)
        decision = decide(contexts, rng.integers(0, LADDER.n_actions, n))
        out, probs = rng.random(n) < 0.3, rng.dirichlet(np.ones(LADDER.n_actions), n)
        # Answers kept for one day must go when another day is recorded, may stay when that day is
        # (but not when keep_days == window), and must cover items that record adds.
        served = guard.apply(contexts, decision, day, out, probabilities=probs, record=False).prices
        fine = bool(np.isfinite(served).all())  # a tampered ring can give a 0.00 last price
        for when in (day, "record with a new item", day, day + 1, "record lower", day + 1, max(day - 3, 0)):
            if when == "record with a new item" and fine:
                guard.history.record([*items, 1000 + day], [*served, served[0]], day)
            elif when == "record lower" and fine:
                guard.history.record(items, 0.9 * served, day)
            if isinstance(when, str):
                continue
            want = reference_apply(guard, contexts, decision, when, out, probs)
            got = guard.apply(contexts, decision, when, out, probabilities=probs, record=False)
            for name, value in want.items():
                assert_same_bits(getattr(got, name), value, f"{name} on day {when}")
            assert explain(got) == reference_explain(want["prices"], want["interventions"], want["binding"])
            queried = np.append(items, 99)
            last, lowest = guard.history.last_and_lowest(queried, when, window, np.full(n + 1, -1.0))
            for j, item in enumerate(queried.tolist()):
                want_last = reference_last(guard.history, item, when)
                want_low = reference_lowest(guard.history, item, when, window)
                assert_same_bits(
                    np.array([last[j], lowest[j]]), np.nan_to_num([want_last, want_low], nan=-1.0), "look-up"
                )
                assert_same_bits(
                    guard.history.last_prices([item], when), np.array([want_last]), "last_prices"
                )
        if rng.random() < 0.4:
            guard.history = tampered(guard.history, rng)
        if rng.random() < 0.3:  # new rules for the same guardrails
            rules = {"max_discount": 0.3, "max_daily_change": float(rng.choice([0.1, np.inf]))}
            guard.config = GuardrailConfig(min_margin=0.2, reference_window_days=window, **rules)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_record_of_repeated_items_matches_the_plain_reference(seed: int) -> None:
    # record takes a dict for a few dozen rows and numpy beyond (or where a price is zero): both must
    # keep, per item, the lowest and the last price of the batch. A batch of items all recorded that
    # day already takes a shortcut, which must leave the same history as the full path (taken by a
    # history that does not vouch for its invariants).
    rng = np.random.default_rng(seed)
    history, full = PriceHistory(keep_days=4), PriceHistory(keep_days=4)
    full.consistent_ = False
    day = 0
    for _ in range(5):
        day += int(rng.integers(0, 2))
        n = int(rng.choice([1, 5, 20, 32, 33, 60]))
        items = rng.integers(0, int(rng.choice([3, 10, 50])), n)
        prices = np.round(rng.uniform(0.0, 3.0, n), 1)  # ties, and now and then a zero
        if rng.random() < 0.3:
            prices[rng.integers(0, n)] = -0.0
        before = history.to_dict()
        history.record(items, prices, day)
        full.record(items, prices, day)
        assert history.to_dict() == full.to_dict()
        for item in np.unique(items).tolist():
            mine = prices[items == item]
            want_low = np.minimum.reduce(mine)
            if before["ids"].count(item):  # an earlier batch of the same day: the lowest of both
                r = before["ids"].index(item)
                j = day % history.keep_days
                if before["days"][r][j] == day:
                    want_low = np.minimum(before["lowest"][r][j], want_low)
            r, j = int(np.searchsorted(history.ids_, item)), day % history.keep_days
            assert history.days_[r, j] == day
            assert_same_bits(history.lowest_[r, j : j + 1], np.array([want_low]), "lowest")
            assert_same_bits(history.last_[r, j : j + 1], mine[-1:], "last")
            assert_same_bits(history.latest_[r], np.array([float(day), mine[-1]]), "latest")


def test_record_refuses_a_day_before_the_items_latest() -> None:
    history = PriceHistory(keep_days=3)
    history.record([4, 7], [10.0, 5.0], day=5)
    before = history.to_dict()
    assert history.last_price(4, day=6) == 10.0  # fills the lookups' cache
    with pytest.raises(
        ValueError, match="item 7 already has prices for a day after 3; days must not go back"
    ):
        history.record([7, 2], [9.0, 1.0], day=3)
    assert history.to_dict() == before  # nothing of the refused batch stays: not even item 2's row
    assert history.last_price(7, day=6) == 5.0  # nothing recorded for it
    assert np.isnan(history.last_price(2, day=6))  # item 2: never priced
    history.record([7, 4, 7], [8.0, 9.0, 6.0], day=5)  # the same day again: the lowest of the day is kept
    assert history.lowest_price(7, day=6, window=3) == 5.0
    assert history.last_price(7, day=6) == 6.0
    assert history.last_price(4, day=6) == 9.0
