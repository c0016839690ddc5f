"""The rules themselves: config, interventions, :class:`Guardrails` and what it serves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import IntFlag
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from pricepilot.guardrails.history import PriceHistory, select
from pricepilot.types import BoolArray, ContextBatch, Decision, FloatArray, IntArray

if TYPE_CHECKING:
    from pricepilot.policies.base import Policy


class Intervention(IntFlag):
    """Why a served price differs from the policy's (bit flags, combined per row)."""

    NONE = 0
    FLOOR = 1  #: below unit cost plus the minimum margin
    CEILING = 2  #: above the ceiling multiple of list price
    MAX_DISCOUNT = 4  #: further below list price than the maximum discount
    DAILY_CHANGE = 8  #: further from the item's last price than the maximum daily change
    OPT_OUT = 16  #: the visitor opted out of personalisation
    NO_ALLOWED_ACTION = 32  #: no ladder price satisfied every rule; non-personalised price used
    CONFLICT = 64  #: the rules could not all hold; the weaker gave way (see module docstring)


_FLOOR, _CEILING = int(Intervention.FLOOR), int(Intervention.CEILING)
_DISCOUNT, _CHANGE = int(Intervention.MAX_DISCOUNT), int(Intervention.DAILY_CHANGE)
_OPT_OUT, _NO_ACTION = int(Intervention.OPT_OUT), int(Intervention.NO_ALLOWED_ACTION)
_CONFLICT = int(Intervention.CONFLICT)


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


@lru_cache(maxsize=256)
def _protected_indices(protected: tuple[str, ...], feature_names: tuple[str, ...]) -> tuple[int, ...]:
    """Indices of ``feature_names`` matching a pattern of ``protected`` (cached: the service asks for
    the same names on every request)."""
    patterns = [_tokens(p) for p in protected]
    hits = []
    for j, name in enumerate(feature_names):
        words = _tokens(name)
        if any(words[i : i + len(p)] == p for p in patterns for i in range(len(words))):
            hits.append(j)
    return tuple(hits)


@dataclass(frozen=True, slots=True)
class GuardrailConfig:
    """Pricing rules; every share is a fraction (0.1 = 10 %), every amount in the item's currency.

    Parameters
    ----------
    min_margin : float, share of unit cost the price must exceed cost by (floor ``cost * (1 + m)``).
    min_margin_absolute : float, currency; the floor is ``cost + max(min_margin * cost, this)``.
    ceiling_multiple : float >= 1, highest price as a multiple of list price (``inf`` disables).
    max_discount : float in [0, 1), largest discount off list price.
    max_daily_change : float > 0, largest relative change from the item's last price (``inf`` disables).
    protected : tuple of str
        Feature-name patterns never shown to the policy. A pattern matches a feature name when its
        words appear consecutively among the name's words (names split on non-alphanumerics and
        camelCase, compared lower-case): ``"age"`` matches ``visitor_age_band`` and ``AgeYears`` but
        not ``average_basket`` or ``page_views``, as plain substring matching would.
    reference_window_days : int >= 1, window of the lowest-price reference for discounts shown.
    fallback_action : int or None, ladder action of the non-personalised price; None: the list price.
    """

    min_margin: float = 0.0
    min_margin_absolute: float = 0.0
    ceiling_multiple: float = 1.5
    max_discount: float = 0.5
    max_daily_change: float = 0.25
    protected: tuple[str, ...] = ("gender", "age", "ethnicity")
    reference_window_days: int = 30
    fallback_action: int | None = None

    def __post_init__(self) -> None:
        ranges = {  # field: (low, high, low inclusive, high inclusive, wording)
            "min_margin": (0.0, np.inf, True, False, "a finite share >= 0"),
            "min_margin_absolute": (0.0, np.inf, True, False, "a finite amount >= 0"),
            "ceiling_multiple": (1.0, np.inf, True, True, ">= 1 (or inf)"),
            "max_discount": (0.0, 1.0, True, False, "in [0, 1)"),
            "max_daily_change": (0.0, np.inf, False, True, "> 0 (or inf)"),
        }
        for name, (low, high, low_in, high_in, want) in ranges.items():
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = (
                ok
                and (low <= value if low_in else low < value)
                and (value <= high if high_in else value < high)
            )
            if not ok:
                raise ValueError(f"GuardrailConfig.{name} must be {want}, got {value!r}")
        if isinstance(self.protected, str) or not all(
            isinstance(p, str) and _tokens(p) for p in self.protected
        ):
            raise ValueError(
                f"GuardrailConfig.protected must be a tuple of non-empty names, got {self.protected!r}"
            )
        window = self.reference_window_days
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"GuardrailConfig.reference_window_days must be an int >= 1, got {window!r}")
        action = self.fallback_action
        if action is not None and (isinstance(action, bool) or not isinstance(action, int) or action < 0):
            raise ValueError(f"GuardrailConfig.fallback_action must be None or an int >= 0, got {action!r}")
        object.__setattr__(self, "protected", tuple(self.protected))


@dataclass(frozen=True, slots=True)
class GuardedDecision:
    """What is served and logged after the guardrails, for ``n`` rows (prices in the item's currency).

    Off-policy evaluation must use the *served* price and action: the policy's action and propensity
    are kept for audit, but where a guardrail moved the price the visitor saw ``prices``, not
    ``policy_prices``. ``served_propensities`` (when the policy's probabilities were given to
    :meth:`Guardrails.apply`) is the probability that guardrails-after-policy serves that price.

    Attributes
    ----------
    prices : ndarray of shape (n,), the served prices.
    actions : ndarray of shape (n,), int64, ladder index of the served price, -1 where off the ladder.
    decision : Decision, the policy's own choice (actions, propensities, prices, policy name).
    nonpersonalised_prices : ndarray of shape (n,), the non-personalised price after every rule.
    personalised, opted_out : ndarray of shape (n,), bool.
    interventions : ndarray of shape (n,), int64, :class:`Intervention` bits of every rule the
        intended price (the policy's, or the non-personalised one) broke.
    binding : ndarray of shape (n,), int64, the single rule that set the price (0: none).
    reference_prices : ndarray of shape (n,), lowest price of the reference window, else list price.
    discount_shown : ndarray of shape (n,), ``max(0, 1 - price / reference)``, a fraction.
    served_propensities : ndarray of shape (n,) or None.
    """

    prices: FloatArray
    actions: IntArray
    decision: Decision
    nonpersonalised_prices: FloatArray
    personalised: BoolArray
    opted_out: BoolArray
    interventions: IntArray
    binding: IntArray
    reference_prices: FloatArray
    discount_shown: FloatArray
    served_propensities: FloatArray | None = field(default=None)

    @property
    def n(self) -> int:
        return int(self.prices.shape[0])

    def explain(self) -> list[str]:
        """Per row, the main rule behind the price, as text (see :func:`explain`)."""
        return explain(self)


_RULE_TEXT: dict[int, str] = {
    Intervention.FLOOR: "raised to the cost floor (unit cost plus minimum margin)",
    Intervention.MAX_DISCOUNT: "raised to the largest discount allowed off the list price",
    Intervention.CEILING: "lowered to the price ceiling",
    Intervention.DAILY_CHANGE: "held within the largest daily change from the item's last price",
}


def _reason(flags: int, rule: int) -> str:
    """The text after the price in :func:`explain`'s line for a row with these flags and binding rule."""
    if flags & _OPT_OUT:
        text = "non-personalised price: the visitor opted out of personalisation"
    elif flags & _NO_ACTION:
        text = "non-personalised price: no ladder price satisfied every guardrail"
    else:
        text = "price chosen by the policy"
    if rule:
        text += f", {_RULE_TEXT[rule]}"
    if flags & _CONFLICT:
        text += " (rules conflicted; the weaker one gave way)"
    return text


# :func:`_reason` per (flags, rule) seen: a service explains the same few combinations over and over
_REASONS: dict[tuple[int, int], str] = {}


def explain(guarded: GuardedDecision) -> list[str]:
    """Per row, the main reason for the served price, as one short sentence ("why this price")."""
    reasons = _REASONS
    lines = []
    rows = zip(guarded.prices.tolist(), guarded.interventions.tolist(), guarded.binding.tolist(), strict=True)
    for price, flags, rule in rows:  # plain ints: IntFlag objects per row cost more than the rest
        reason = reasons.get((flags, rule))
        if reason is None:
            reason = _reason(flags, rule)
            if len(reasons) < 1024:  # the combinations are few; odd input must not grow it forever
                reasons[(flags, rule)] = reason
        lines.append(f"{price:.2f}: {reason}")
    return lines


_LOWER_RULES = np.array([_FLOOR, _DISCOUNT, _CHANGE], dtype=np.int64)  # of _Bounds.lower's rows
_UPPER_RULES = np.array([_CEILING, _CHANGE], dtype=np.int64)  # of _Bounds.upper's rows
# the bit of each row of the table of conditions built in Guardrails.apply
_FLAG_BITS = np.array(
    [_FLOOR, _DISCOUNT, _CHANGE, _CEILING, _CHANGE, _OPT_OUT, _NO_ACTION, _CONFLICT], dtype=np.int64
)


class _Bounds(NamedTuple):
    """The rules' bounds for ``n`` rows (currency), stacked so that one numpy call treats several.

    ``rows`` (shape (8, n)) holds, as rows: 0 the floor; 1 ``static_lo``, the floor and the maximum
    discount given way to the ceiling; 2 ``law_lo``, the maximum discount's bound; 3 ``law_hi``, the
    ceiling; 4 ``band_lo`` and 5 ``band_hi``, the ends of the daily change's band; 6 ``lo`` and 7
    ``hi``, the range of the price once the rules gave way to each other. The lower bounds 0, 2, 4
    and the upper bounds 3, 5 are in the order of ``_LOWER_RULES`` and ``_UPPER_RULES``. ``minus`` and
    ``plus`` are ``rows - tol`` and ``rows + tol``, ``tol`` the tolerance of a comparison (shape (n,)),
    and ``conflict`` (bool, shape (n,)) marks the rows whose rules could not all hold.
    """

    rows: FloatArray
    minus: FloatArray
    plus: FloatArray
    tol: FloatArray
    conflict: BoolArray

    @property
    def lower(self) -> FloatArray:
        return self.rows[0:5:2]

    @property
    def upper(self) -> FloatArray:
        return self.rows[3:6:2]


def _close_to(a: FloatArray, b: FloatArray, slack: FloatArray) -> BoolArray:
    """``np.isclose(a, b, rtol=1e-9, atol=1e-12)`` for finite prices, without its Python overhead,
    given ``slack = 1e-12 + 1e-9 * np.abs(b)`` (shared by the calls comparing with the same ``b``)."""
    diff = np.subtract(a, b)
    close: BoolArray = np.abs(diff, out=diff) <= slack
    return close


class Guardrails:
    """Applies a :class:`GuardrailConfig` to decisions and keeps their :class:`PriceHistory`."""

    def __init__(self, config: GuardrailConfig | None = None, history: PriceHistory | None = None) -> None:
        self.config = config if config is not None else GuardrailConfig()
        # one day more than the window: the day being served shares the ring with the window's days
        window = self.config.reference_window_days
        self.history = history if history is not None else PriceHistory(window + 1)
        if self.history.keep_days < self.config.reference_window_days:
            raise ValueError(
                f"the history keeps {self.history.keep_days} days, fewer than reference_window_days="
                f"{self.config.reference_window_days}; build PriceHistory(keep_days=...) longer"
            )
        # the config, then its multiples of list price (law_lo, law_hi) and of last price (band_lo,
        # band_hi), shape (2, 1) each: made again when the config is replaced (see _bounds)
        self._factors: tuple[GuardrailConfig | None, FloatArray, FloatArray] = (
            None,
            np.ones((2, 1)),
            np.ones((2, 1)),
        )

    # ------------------------------------------------------------------ protected attributes
    def protected_columns(self, feature_names: tuple[str, ...] | list[str]) -> list[int]:
        """Indices of the features that match a protected pattern (see ``GuardrailConfig.protected``)."""
        return list(_protected_indices(self.config.protected, tuple(feature_names)))

    def strip_protected(self, contexts: ContextBatch) -> ContextBatch:
        """The same contexts without protected feature columns: shape (n, d - n_protected)."""
        drop = self.protected_columns(contexts.feature_names)
        if not drop:
            return contexts
        keep = np.setdiff1d(np.arange(contexts.n_features), drop)
        names = tuple(contexts.feature_names[j] for j in keep)
        return replace(contexts, features=contexts.features[:, keep], feature_names=names)

    # ------------------------------------------------------------------ price rules
    def _bounds(self, contexts: ContextBatch, last: FloatArray) -> _Bounds:
        """The bounds of every rule, given each row's last price ``last`` (shape (n,), the list price
        where the item has none)."""
        c = self.config
        made_for, law_factors, band_factors = self._factors
        if made_for is not c:
            law_factors = np.array([[1.0 - c.max_discount], [c.ceiling_multiple]])
            band_factors = np.array([[1.0 - min(c.max_daily_change, 1.0)], [1.0 + c.max_daily_change]])
            self._factors = (c, law_factors, band_factors)
        lp, cost = contexts.list_prices, contexts.unit_costs
        rows = np.empty((8, lp.shape[0]))
        floor, static_lo, law_lo, law_hi = rows[0], rows[1], rows[2], rows[3]
        band_lo, band_hi, lo, hi = rows[4], rows[5], rows[6], rows[7]
        np.add(cost, np.maximum(np.multiply(c.min_margin, cost), c.min_margin_absolute), out=floor)
        np.multiply(law_factors, lp, out=rows[2:4])  # law_lo, law_hi
        np.multiply(band_factors, last, out=rows[4:6])  # band_lo, band_hi
        np.minimum(np.maximum(floor, law_lo), law_hi, out=static_lo)
        np.maximum(static_lo, np.minimum(band_lo, law_hi), out=lo)
        np.minimum(law_hi, np.maximum(band_hi, static_lo), out=hi)
        tol = np.multiply(1e-9, np.maximum(1.0, lp))
        minus, plus = rows - tol, rows + tol
        # the floor or the band's low end above the ceiling (fmax: a NaN bound breaks nothing), or the
        # band's high end below the floor and the maximum discount
        conflict = np.fmax(floor, band_lo) > plus[3]
        conflict |= band_hi < minus[1]
        return _Bounds(rows, minus, plus, tol, conflict)

    def allowed_actions(self, contexts: ContextBatch, day: int) -> BoolArray:
        """Which ladder actions satisfy every rule on ``day``: bool, shape (n, n_actions).

        A row with no allowed action is served the non-personalised price clipped into the rules,
        which is the allowed price closest to it (the list price by default) — see :meth:`apply`.
        """
        last = self.history.last_prices(contexts.item_ids, day)
        b = self._bounds(contexts, np.where(np.isnan(last), contexts.list_prices, last))
        return self._allowed(contexts.prices, b)

    @staticmethod
    def _allowed(prices: FloatArray, b: _Bounds) -> BoolArray:
        """Which of ``prices`` (shape (n, n_actions)) lie within the bounds ``b``: bool, same shape."""
        allowed: BoolArray = prices >= b.minus[6][:, None]  # lo - tol
        allowed &= prices <= b.plus[7][:, None]  # hi + tol
        return allowed

    def nonpersonalised_prices(self, contexts: ContextBatch) -> FloatArray:
        """The non-personalised price before the rules: shape (n,), currency."""
        action = self.config.fallback_action
        if action is None:
            return contexts.list_prices.copy()
        if action >= contexts.ladder.n_actions:
            raise ValueError(
                f"fallback_action {action} is outside the ladder (0..{contexts.ladder.n_actions - 1})"
            )
        return np.asarray(contexts.prices[:, action], dtype=np.float64)

    def apply(
        self,
        contexts: ContextBatch,
        decision: Decision,
        day: int,
        opted_out: ArrayLike,
        probabilities: FloatArray | None = None,
        record: bool = True,
    ) -> GuardedDecision:
        """Clip ``decision`` to every rule for ``day`` and record the served prices (unless ``record``).

        Parameters
        ----------
        contexts : ContextBatch of n rows, the contexts the decision was made for.
        decision : Decision of n rows, the policy's choice.
        day : int, day number of the offers.
        opted_out : bool array of shape (n,), visitors who refused personalisation.
        probabilities : ndarray of shape (n, n_actions), optional, the policy's action probabilities;
            when given, ``served_propensities`` is filled.
        record : bool, add the served prices to the history.
        """
        lp, prices, acts = contexts.list_prices, contexts.prices, decision.actions
        n = lp.shape[0]  # contexts.n, without the property's overhead
        out = np.asarray(opted_out, dtype=bool).reshape(-1)
        if out.shape != (n,) or acts.shape[0] != n:
            raise ValueError(f"apply needs {n} rows in decision and opted_out, got {decision.n}, {out.shape}")
        fallback = lp if self.config.fallback_action is None else self.nonpersonalised_prices(contexts)
        window = self.config.reference_window_days
        last, reference = self.history.last_and_lowest(contexts.item_ids, day, window, lp)
        b = self._bounds(contexts, last)
        lo, hi = b.rows[6], b.rows[7]
        some_allowed = np.logical_or.reduce(self._allowed(prices, b), axis=1)
        stays_in = ~out
        own = stays_in & some_allowed  # the policy's price is the one intended
        # the intended price (the policy's, or the non-personalised one) and the non-personalised
        # price, stacked to be clipped into the rules together
        pair = np.empty((2, n))
        np.copyto(pair, fallback)
        np.copyto(pair[0], decision.prices, where=own)
        intended = pair[0]
        clipped = np.minimum(np.maximum(pair, lo), hi)
        served, fallback_served = clipped[0], clipped[1]  # (indexing is faster than unpacking)

        # one row per condition, in the order of _FLAG_BITS: the rules broken, then the other flags
        table = np.empty((8, n), dtype=bool)
        broke_lo, broke_hi = table[:3], table[3:5]
        np.less(intended, b.minus[0:5:2], out=broke_lo)
        np.greater(intended, b.plus[3:6:2], out=broke_hi)
        table[5] = out
        np.greater(stays_in, some_allowed, out=table[6])  # stays in, and no action allowed
        table[7] = b.conflict
        binding = self._binding(b, intended, served, broke_lo, broke_hi)
        np.greater(table[4], table[2], out=table[4])  # the daily change broken both ways counts once
        flags = np.dot(_FLAG_BITS, table)  # distinct bits: their sum is their bitwise or

        # the served action: the policy's where it is served, else the first ladder price served.
        # Served prices are compared with the ladder's and with the ladder's clipped into the rules
        # (for the served propensity) at once.
        slacks = np.add(1e-12, np.multiply(1e-9, np.abs(clipped)))
        slack, fallback_slack = slacks[0], slacks[1]
        k = prices.shape[1]
        ladders = np.empty((2, n, k))
        ladders[0] = prices
        np.minimum(np.maximum(prices, lo[:, None]), hi[:, None], out=ladders[1])
        matches = _close_to(ladders, served[:, None], slack[:, None])
        same, hit = matches[0], matches[1]
        actions = same.argmax(axis=1)
        np.copyto(actions, -1, where=~np.logical_or.reduce(same, axis=1))
        valid = acts.astype(np.uint64) < k  # 0 <= action < k: a negative one wraps to a huge number
        if np.count_nonzero(valid) == n:  # the usual case: every action is on the ladder
            mine = same.reshape(-1).take(np.add(np.arange(0, n * k, k), acts))  # same[i, acts[i]]
        else:
            mine = same.reshape(-1).take(np.add(np.arange(0, n * k, k), acts * valid))
            mine &= valid
        mine &= own
        np.copyto(actions, acts, where=mine)
        far = ~_close_to(served, fallback_served, fallback_slack)
        served_props = None
        if probabilities is not None:
            served_props = np.add.reduce(np.multiply(probabilities, hit, dtype=np.float64), axis=1)
            np.copyto(served_props, 1.0, where=~own)
        if record:
            self.history.record(contexts.item_ids, served, day)
        discount = np.maximum(reference, 1e-12)
        np.divide(served, discount, out=discount)
        np.subtract(1.0, discount, out=discount)
        return GuardedDecision(
            prices=served,
            actions=actions.astype(np.int64, copy=False),
            decision=decision,
            nonpersonalised_prices=fallback_served,
            personalised=np.logical_and(own, far, out=far),
            opted_out=out,
            interventions=flags,
            binding=binding,
            reference_prices=reference,
            discount_shown=np.maximum(0.0, discount, out=discount),
            served_propensities=served_props,
        )

    @staticmethod
    def _binding(
        b: _Bounds, intended: FloatArray, served: FloatArray, broke_lo: BoolArray, broke_hi: BoolArray
    ) -> IntArray:
        """The single rule that set each served price (int64, shape (n,), 0: none): where the price was
        raised, the broken lower bound that is highest; where lowered, the broken upper bound that is
        lowest (the first in rule order on ties)."""
        binding = np.zeros(served.shape, dtype=np.int64)
        lowered = served < intended - b.tol
        if np.count_nonzero(lowered):
            upper = select(~broke_hi, np.inf, b.upper)
            np.copyto(binding, _UPPER_RULES.take(upper.argmin(axis=0)), where=lowered)
        raised = served > intended + b.tol
        if np.count_nonzero(raised):
            lower = select(~broke_lo, -np.inf, b.lower)
            np.copyto(binding, _LOWER_RULES.take(lower.argmax(axis=0)), where=raised)
        return binding

    def decide(
        self, policy: Policy, contexts: ContextBatch, day: int, opted_out: ArrayLike, record: bool = True
    ) -> GuardedDecision:
        """Strip protected attributes, let ``policy`` act on what remains, then :meth:`apply`."""
        decision = policy.act(self.strip_protected(contexts))
        return self.apply(contexts, decision, day, opted_out, record=record)
