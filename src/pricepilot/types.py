"""Typed records that every layer shares: price ladder, objective, context batch, decision, outcome.

Depends on nothing but numpy. Every record is a frozen dataclass of arrays whose shapes are checked
when it is built, so a wrong shape fails where it is made, not three modules later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


_F64, _I64 = np.dtype(np.float64), np.dtype(np.int64)


def _as_float(name: str, value: ArrayLike, ndim: int) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    return arr


def _as_int(name: str, value: ArrayLike) -> IntArray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_rows(name: str, arr: NDArray[np.generic], n: int) -> None:
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, expected {n} (one per context)")


@dataclass(frozen=True, slots=True)
class PriceLadder:
    """The finite set of price actions for an item.

    Parameters
    ----------
    multipliers : ndarray of shape (n_levels,)
        Price levels as multiples of the item's list price, strictly increasing and positive.
    coupons : ndarray of shape (n_coupons,)
        Percent-off coupons as fractions in (0, 1); a coupon action charges ``list * (1 - c)`` and is
        shown to the visitor as a coupon rather than as a lower shelf price.

    Actions are indexed ``0 .. n_actions - 1``: the multipliers first, then the coupons.
    """

    multipliers: FloatArray
    coupons: FloatArray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        mult = _as_float("multipliers", self.multipliers, 1)
        coup = _as_float("coupons", self.coupons, 1)
        if mult.size == 0:
            raise ValueError("a PriceLadder needs at least one multiplier")
        if not np.all(np.isfinite(mult)) or np.any(mult <= 0):
            raise ValueError(f"multipliers must be finite and positive, got {mult.tolist()}")
        if np.any(np.diff(mult) <= 0):
            raise ValueError(f"multipliers must be strictly increasing, got {mult.tolist()}")
        if np.any((coup <= 0) | (coup >= 1)):
            raise ValueError(f"coupons must be fractions in (0, 1), got {coup.tolist()}")
        object.__setattr__(self, "multipliers", mult)
        object.__setattr__(self, "coupons", coup)

    @classmethod
    def linear(
        cls, low: float = 0.7, high: float = 1.3, levels: int = 9, coupons: Sequence[float] = ()
    ) -> PriceLadder:
        """Evenly spaced multipliers from ``low`` to ``high`` (inclusive), plus optional coupons."""
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        if not 0 < low <= high:
            raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
        mult = np.linspace(low, high, levels) if levels > 1 else np.array([low])
        return cls(np.round(mult, 6), np.asarray(coupons, dtype=np.float64))

    @property
    def n_actions(self) -> int:
        return int(self.multipliers.size + self.coupons.size)

    @property
    def factors(self) -> FloatArray:
        """Price of every action as a multiple of list price, shape (n_actions,)."""
        return np.concatenate([self.multipliers, 1.0 - self.coupons])

    @property
    def is_coupon(self) -> BoolArray:
        """Whether each action is a coupon, shape (n_actions,)."""
        return np.concatenate([np.zeros(self.multipliers.size, bool), np.ones(self.coupons.size, bool)])

    def prices(self, list_prices: ArrayLike) -> FloatArray:
        """Prices of every action for each list price: shape (n, n_actions), in the item's currency."""
        lp = np.asarray(list_prices, dtype=np.float64)
        return lp[:, None] * self.factors[None, :]

    def index_of(self, multiplier: float) -> int:
        """Index of the shelf-price action with this multiplier (for example 1.0, the list price)."""
        hits = np.flatnonzero(np.isclose(self.multipliers, multiplier))
        if hits.size == 0:
            raise ValueError(f"multiplier {multiplier} is not on the ladder {self.multipliers.tolist()}")
        return int(hits[0])

    def describe(self, action: int) -> str:
        """Human-readable name of an action, for example ``'x0.85'`` or ``'coupon 10% off'``."""
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action {action} is outside the ladder (0..{self.n_actions - 1})")
        if action < self.multipliers.size:
            return f"x{self.multipliers[action]:.3g}"
        return f"coupon {100 * self.coupons[action - self.multipliers.size]:.3g}% off"

    def to_dict(self) -> dict[str, list[float]]:
        return {"multipliers": self.multipliers.tolist(), "coupons": self.coupons.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> PriceLadder:
        return cls(np.asarray(data["multipliers"]), np.asarray(data.get("coupons", [])))


@dataclass(frozen=True, slots=True)
class Objective:
    """What a sale is worth, as a weighted mix of terms (all weights >= 0)::

        revenue * price + profit * (price - cost) + conversion * 1
            + satisfaction * max(reference_price - price, 0)

    ``conversion`` counts units sold (the market-share term); ``satisfaction`` rewards the visitor's
    gain from paying under their reference price (the list price where no reference is tracked). The
    same objective applies to every policy in a run. Presets: :meth:`named`.
    """

    revenue: float = 0.0
    profit: float = 1.0
    conversion: float = 0.0
    satisfaction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("revenue", "profit", "conversion", "satisfaction"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"objective weight {name} must be finite and >= 0, got {value}")
        if self.revenue == self.profit == self.conversion == self.satisfaction == 0:
            raise ValueError("an objective needs at least one positive weight")

    @classmethod
    def named(cls, name: str) -> Objective:
        """``'revenue'``, ``'profit'``, ``'conversions'``, or a mix such as
        ``'revenue=1,conversion=5,satisfaction=0.5'``."""
        presets = {
            "revenue": cls(revenue=1.0, profit=0.0),
            "profit": cls(profit=1.0),
            "conversions": cls(profit=0.0, conversion=1.0),
        }
        if name in presets:
            return presets[name]
        weights: dict[str, float] = {"revenue": 0.0, "profit": 0.0, "conversion": 0.0, "satisfaction": 0.0}
        try:
            for part in name.split(","):
                key, value = part.split("=")
                key = key.strip().removesuffix("s")
                if key not in weights:
                    raise KeyError(key)
                weights[key] = float(value)
        except (ValueError, KeyError) as err:
            raise ValueError(
                f"unknown objective {name!r}: use revenue, profit, conversions or a mix such as "
                "'revenue=1,conversion=5,satisfaction=0.5'"
            ) from err
        return cls(**weights)

    def value_if_bought(
        self, prices: FloatArray, unit_costs: FloatArray, reference_prices: FloatArray | None = None
    ) -> FloatArray:
        """Reward of a sale at ``prices`` (shape (n, k)) for items costing ``unit_costs`` (shape (n,)),
        with the visitors' ``reference_prices`` (shape (n,), currency) for the satisfaction term."""
        value = self.revenue * prices + self.profit * (prices - unit_costs[:, None]) + self.conversion
        if self.satisfaction:
            if reference_prices is None:
                raise ValueError("the satisfaction term needs reference_prices")
            value = value + self.satisfaction * np.maximum(reference_prices[:, None] - prices, 0.0)
        return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ContextBatch:
    """What a policy knows when it decides, for ``n`` visitor-item pairs.

    Attributes
    ----------
    features : ndarray of shape (n, d)
        Numeric features of visitor, item and market (named by ``feature_names``).
    ladder : PriceLadder
        The actions; every row has the same ladder.
    prices : ndarray of shape (n, n_actions)
        The price each action would charge, in the item's currency.
    value_if_bought : ndarray of shape (n, n_actions)
        The objective's reward if the visitor buys at that action's price.
    list_prices, unit_costs : ndarray of shape (n,)
    item_ids, visitor_ids : ndarray of shape (n,), int64; visitor ids are pseudonymous.
    """

    features: FloatArray
    feature_names: tuple[str, ...]
    ladder: PriceLadder
    prices: FloatArray
    value_if_bought: FloatArray
    list_prices: FloatArray
    unit_costs: FloatArray
    item_ids: IntArray
    visitor_ids: IntArray

    def __post_init__(self) -> None:
        if self._as_checked():
            return
        feats = _as_float("features", self.features, 2)
        n = feats.shape[0]
        if len(self.feature_names) != feats.shape[1]:
            raise ValueError(
                f"feature_names has {len(self.feature_names)} names for {feats.shape[1]} feature columns"
            )
        k = self.ladder.n_actions
        for name in ("prices", "value_if_bought"):
            arr = _as_float(name, getattr(self, name), 2)
            if arr.shape != (n, k):
                raise ValueError(f"{name} must have shape ({n}, {k}), got {arr.shape}")
            object.__setattr__(self, name, arr)
        for name in ("list_prices", "unit_costs"):
            arr1 = _as_float(name, getattr(self, name), 1)
            _check_rows(name, arr1, n)
            object.__setattr__(self, name, arr1)
        for name in ("item_ids", "visitor_ids"):
            ids = _as_int(name, getattr(self, name))
            _check_rows(name, ids, n)
            object.__setattr__(self, name, ids)
        object.__setattr__(self, "features", feats)

    def _as_checked(self) -> bool:
        """Whether every array already is what ``__post_init__``'s checks leave (a plain ndarray of
        float64 or int64, of the right shape), so that they would neither convert nor refuse one: the
        usual case, checked at a fraction of their cost."""
        feats = self.features
        if type(feats) is not np.ndarray or feats.dtype is not _F64 or feats.ndim != 2:
            return False
        n, d = feats.shape
        by_row, rows = (n, self.ladder.n_actions), (n,)
        expected = (
            (self.prices, _F64, by_row),
            (self.value_if_bought, _F64, by_row),
            (self.list_prices, _F64, rows),
            (self.unit_costs, _F64, rows),
            (self.item_ids, _I64, rows),
            (self.visitor_ids, _I64, rows),
        )
        for arr, dtype, shape in expected:
            if type(arr) is not np.ndarray or arr.dtype is not dtype or arr.shape != shape:
                return False
        return bool(len(self.feature_names) == d)

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    def observations(self, bound: float = 10.0) -> FloatArray:
        """The state a reinforcement learner sees, shape (n, d + n_actions): the features, then each
        action's ``value_if_bought`` divided by the list price, clipped to ``[-bound, bound]``. The
        Gymnasium environments observe exactly this, so a policy trained there serves on contexts."""
        out = np.empty((self.n, self.n_features + self.ladder.n_actions))
        out[:, : self.n_features] = self.features
        np.divide(self.value_if_bought, self.list_prices[:, None], out=out[:, self.n_features :])
        return np.clip(out, -bound, bound, out=out)

    def take(self, rows: IntArray | slice) -> ContextBatch:
        """The sub-batch of the given rows."""
        return ContextBatch(
            features=self.features[rows],
            feature_names=self.feature_names,
            ladder=self.ladder,
            prices=self.prices[rows],
            value_if_bought=self.value_if_bought[rows],
            list_prices=self.list_prices[rows],
            unit_costs=self.unit_costs[rows],
            item_ids=self.item_ids[rows],
            visitor_ids=self.visitor_ids[rows],
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's choice for each context of a batch.

    Attributes
    ----------
    actions : ndarray of shape (n,), int64, indices into the ladder
    propensities : ndarray of shape (n,), probability the policy gave the chosen action
    prices : ndarray of shape (n,), the price charged, in the item's currency
    policy : str, name and version of the deciding policy
    """

    actions: IntArray
    propensities: FloatArray
    prices: FloatArray
    policy: str

    def __post_init__(self) -> None:
        actions = _as_int("actions", self.actions)
        n = actions.shape[0]
        props = _as_float("propensities", self.propensities, 1)
        prices = _as_float("prices", self.prices, 1)
        _check_rows("propensities", props, n)
        _check_rows("prices", prices, n)
        if np.any((props <= 0) | (props > 1 + 1e-9)):
            bad = int(np.flatnonzero((props <= 0) | (props > 1 + 1e-9))[0])
            raise ValueError(f"propensity must be in (0, 1], row {bad} has {props[bad]}")
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "propensities", props)
        object.__setattr__(self, "prices", prices)

    @classmethod
    def from_actions(
        cls, contexts: ContextBatch, actions: IntArray, propensities: FloatArray, policy: str
    ) -> Decision:
        """Build a decision, looking up each chosen action's price in the context batch."""
        rows = np.arange(contexts.n)
        return cls(actions, propensities, contexts.prices[rows, actions], policy)

    @classmethod
    def trusted(
        cls, actions: IntArray, propensities: FloatArray, prices: FloatArray, policy: str
    ) -> Decision:
        """Build a decision from arrays a policy has just made (int64 actions, float64 propensities in
        (0, 1] and prices, all of shape (n,)) without re-checking them: the hot path of ``act``."""
        decision = object.__new__(cls)
        object.__setattr__(decision, "actions", actions)
        object.__setattr__(decision, "propensities", propensities)
        object.__setattr__(decision, "prices", prices)
        object.__setattr__(decision, "policy", policy)
        return decision

    @property
    def n(self) -> int:
        return int(self.actions.shape[0])


@dataclass(frozen=True, slots=True)
class OutcomeBatch:
    """What followed each decision: the context, the action taken, and the visitor's response.

    Attributes
    ----------
    contexts : ContextBatch, the contexts the decisions were made for
    actions, propensities : ndarray of shape (n,), as decided and logged
    purchased : ndarray of shape (n,), bool
    revenue, profit, reward : ndarray of shape (n,), in currency (reward under the run's objective)
    """

    contexts: ContextBatch
    actions: IntArray
    propensities: FloatArray
    purchased: BoolArray
    revenue: FloatArray
    profit: FloatArray
    reward: FloatArray

    def __post_init__(self) -> None:
        n = self.contexts.n
        actions = _as_int("actions", self.actions)
        _check_rows("actions", actions, n)
        if np.any((actions < 0) | (actions >= self.contexts.ladder.n_actions)):
            raise ValueError(f"actions must lie in 0..{self.contexts.ladder.n_actions - 1}")
        purchased = np.asarray(self.purchased, dtype=bool)
        _check_rows("purchased", purchased, n)
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "purchased", purchased)
        for name in ("propensities", "revenue", "profit", "reward"):
            arr = _as_float(name, getattr(self, name), 1)
            _check_rows(name, arr, n)
            object.__setattr__(self, name, arr)

    @property
    def n(self) -> int:
        return self.contexts.n
