"""The rules themselves: config, interventions, :class:`Guardrails` and what it serves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import IntFlag
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from pricepilot.guardrails.history import PriceHistory
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


def explain(guarded: GuardedDecision) -> list[str]:
    """Per row, the main reason for the served price, as one short sentence ("why this price")."""
    opt_out, none_allowed = int(Intervention.OPT_OUT), int(Intervention.NO_ALLOWED_ACTION)
    conflict = int(Intervention.CONFLICT)
    lines = []
    rows = zip(guarded.prices.tolist(), guarded.interventions.tolist(), guarded.binding.tolist(), strict=True)
    for price, flags, rule in rows:  # plain ints: IntFlag objects per row cost more than the rest
        if flags & opt_out:
            head = "non-personalised price: the visitor opted out of personalisation"
        elif flags & none_allowed:
            head = "non-personalised price: no ladder price satisfied every guardrail"
        else:
            head = "price chosen by the policy"
        text = f"{price:.2f}: {head}"
        if rule:
            text += f", {_RULE_TEXT[rule]}"
        if flags & conflict:
            text += " (rules conflicted; the weaker one gave way)"
        lines.append(text)
    return lines


def _clip(x: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """``np.clip(x, lo, hi)`` (``hi`` wins where ``lo > hi``) without its Python-level overhead."""
    return np.minimum(np.maximum(x, lo), hi)


def _close(a: FloatArray, b: FloatArray) -> BoolArray:
    """``np.isclose(a, b, rtol=1e-9, atol=1e-12)`` for finite prices, without its Python overhead."""
    return np.asarray(np.abs(a - b) <= 1e-12 + 1e-9 * np.abs(b))


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
    def _bounds(self, contexts: ContextBatch, day: int) -> dict[str, FloatArray]:
        c = self.config
        lp, cost = contexts.list_prices, contexts.unit_costs
        last = self.history.last_prices(contexts.item_ids, day)
        last = np.where(np.isnan(last), lp, last)
        b = {
            "floor": cost + np.maximum(c.min_margin * cost, c.min_margin_absolute),
            "law_lo": (1.0 - c.max_discount) * lp,
            "law_hi": c.ceiling_multiple * lp,
            "band_lo": (1.0 - min(c.max_daily_change, 1.0)) * last,
            "band_hi": (1.0 + c.max_daily_change) * last,
        }
        static_lo = np.minimum(np.maximum(b["floor"], b["law_lo"]), b["law_hi"])
        b["lo"] = np.maximum(static_lo, np.minimum(b["band_lo"], b["law_hi"]))
        b["hi"] = np.minimum(b["law_hi"], np.maximum(b["band_hi"], static_lo))
        b["tol"] = 1e-9 * np.maximum(1.0, lp)
        conflict = (b["floor"] > b["law_hi"] + b["tol"]) | (b["band_lo"] > b["law_hi"] + b["tol"])
        b["conflict"] = (conflict | (b["band_hi"] < static_lo - b["tol"])).astype(np.float64)
        return b

    def allowed_actions(self, contexts: ContextBatch, day: int) -> BoolArray:
        """Which ladder actions satisfy every rule on ``day``: bool, shape (n, n_actions).

        A row with no allowed action is served the non-personalised price clipped into the rules,
        which is the allowed price closest to it (the list price by default) — see :meth:`apply`.
        """
        b = self._bounds(contexts, day)
        p = contexts.prices
        return np.asarray((p >= (b["lo"] - b["tol"])[:, None]) & (p <= (b["hi"] + b["tol"])[:, None]))

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
        n = contexts.n
        out = np.asarray(opted_out, dtype=bool).reshape(-1)
        if out.shape != (n,) or decision.n != n:
            raise ValueError(f"apply needs {n} rows in decision and opted_out, got {decision.n}, {out.shape}")
        b = self._bounds(contexts, day)
        lo, hi, tol = b["lo"], b["hi"], b["tol"]
        fallback = self.nonpersonalised_prices(contexts)
        prices = contexts.prices
        allowed = (prices >= (lo - tol)[:, None]) & (prices <= (hi + tol)[:, None])
        none_allowed = ~allowed.any(axis=1)
        intended = np.where(out | none_allowed, fallback, decision.prices)
        served = _clip(intended, lo, hi)
        flags = np.where(out, int(Intervention.OPT_OUT), 0)
        flags |= np.where(none_allowed & ~out, int(Intervention.NO_ALLOWED_ACTION), 0)
        flags |= np.where(b["conflict"] > 0, int(Intervention.CONFLICT), 0)
        lower = np.stack([b["floor"], b["law_lo"], b["band_lo"]])
        upper = np.stack([b["law_hi"], b["band_hi"]])
        broke_lo = intended < lower - tol
        broke_hi = intended > upper + tol
        lo_rules = np.array([_FLOOR, _DISCOUNT, _CHANGE], dtype=np.int64)
        hi_rules = np.array([_CEILING, _CHANGE], dtype=np.int64)
        flags |= np.bitwise_or.reduce(broke_lo * lo_rules[:, None], axis=0)
        flags |= np.bitwise_or.reduce(broke_hi * hi_rules[:, None], axis=0)
        by_lo = lo_rules[np.where(broke_lo, lower, -np.inf).argmax(axis=0)]
        by_hi = hi_rules[np.where(broke_hi, upper, np.inf).argmin(axis=0)]
        binding = np.where(served > intended + tol, by_lo, np.where(served < intended - tol, by_hi, 0))
        rows = np.arange(n)
        same = _close(prices, served[:, None])
        actions = np.where(same.any(axis=1), same.argmax(axis=1), -1)
        own = (decision.actions >= 0) & (decision.actions < prices.shape[1])
        own &= same[rows, np.clip(decision.actions, 0, prices.shape[1] - 1)]
        actions = np.where(own & ~out & ~none_allowed, decision.actions, actions)
        fallback_served = _clip(fallback, lo, hi)
        personalised = ~out & ~none_allowed & ~_close(served, fallback_served)
        reference = self.history.lowest_prices(contexts.item_ids, day, self.config.reference_window_days)
        reference = np.where(np.isnan(reference), contexts.list_prices, reference)
        served_props = None
        if probabilities is not None:
            guarded_ladder = _clip(prices, lo[:, None], hi[:, None])
            hit = _close(guarded_ladder, served[:, None])
            mass = (np.asarray(probabilities, dtype=np.float64) * hit).sum(axis=1)
            served_props = np.where(out | none_allowed, 1.0, mass)
        if record:
            self.history.record(contexts.item_ids, served, day)
        return GuardedDecision(
            prices=served,
            actions=actions.astype(np.int64),
            decision=decision,
            nonpersonalised_prices=fallback_served,
            personalised=personalised,
            opted_out=out,
            interventions=flags.astype(np.int64),
            binding=binding.astype(np.int64),
            reference_prices=reference,
            discount_shown=np.maximum(0.0, 1.0 - served / np.maximum(reference, 1e-12)),
            served_propensities=served_props,
        )

    def decide(
        self, policy: Policy, contexts: ContextBatch, day: int, opted_out: ArrayLike, record: bool = True
    ) -> GuardedDecision:
        """Strip protected attributes, let ``policy`` act on what remains, then :meth:`apply`."""
        decision = policy.act(self.strip_protected(contexts))
        return self.apply(contexts, decision, day, opted_out, record=record)
