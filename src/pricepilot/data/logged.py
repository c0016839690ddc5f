"""Logged bandit feedback: what a deployed policy offered, with what probability, and what followed.

``LoggedData`` is the one typed record that off-policy estimators, reward models and the promotion gate
read. It holds the arrays of ``n`` logged rounds and checks them when it is built: a bad value raises a
:class:`LogValidationError` that names the column (as it is called in a log file, see
:mod:`pricepilot.data.logfile`) and the first bad row, so that a broken export is caught before it
produces a confident, wrong estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pricepilot.types import BoolArray, ContextBatch, FloatArray, IntArray, OutcomeBatch, PriceLadder

PROPENSITY_TOLERANCE = 1e-9


class LogValidationError(ValueError):
    """A logged column holds a value that off-policy evaluation cannot use.

    Attributes
    ----------
    column : str, the column's name in a log file (for example ``'propensity'``)
    row : int or None, the 0-based index of the first bad data row (None when the column is missing
        or has the wrong length)
    """

    def __init__(self, column: str, row: int | None, problem: str) -> None:
        where = f"column {column!r}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {problem}")
        self.column = column
        self.row = row


def first_bad_row(bad: NDArray[np.bool_]) -> int | None:
    """Index of the first ``True`` along the first axis of ``bad`` (any column), or None."""
    rows = bad.reshape(bad.shape[0], -1).any(axis=1) if bad.ndim > 1 else bad
    hits = np.flatnonzero(rows)
    return int(hits[0]) if hits.size else None


def _floats(column: str, value: ArrayLike, ndim: int, n: int | None) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise LogValidationError(column, None, f"values must be numbers ({err})") from None
    if arr.ndim != ndim:
        raise LogValidationError(column, None, f"expected {ndim} dimension(s), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise LogValidationError(column, None, f"has {arr.shape[0]} rows, expected {n}")
    row = first_bad_row(~np.isfinite(arr))
    if row is not None:
        bad = arr[row]
        shown = bad[~np.isfinite(bad)][0] if arr.ndim > 1 else bad
        raise LogValidationError(column, row, f"value {shown} is missing or not finite")
    return arr


def _ints(column: str, value: ArrayLike, n: int | None) -> IntArray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise LogValidationError(column, None, f"expected one dimension, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise LogValidationError(column, None, f"has {arr.shape[0]} rows, expected {n}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        as_float = _floats(column, arr, 1, n)
        row = first_bad_row(as_float != np.round(as_float))
        if row is not None:
            raise LogValidationError(column, row, f"value {as_float[row]} is not a whole number")
        arr = as_float
    return arr.astype(np.int64)


def _in_range(column: str, arr: IntArray, low: int, high: int, what: str) -> None:
    row = first_bad_row((arr < low) | (arr >= high))
    if row is not None:
        raise LogValidationError(column, row, f"{what} {arr[row]} is outside 0..{high - 1}")


@dataclass(frozen=True, slots=True)
class LoggedData:
    """``n`` logged rounds of bandit feedback, checked when built.

    Attributes
    ----------
    features : ndarray of shape (n, d)
        Numeric context features the logging policy saw (file columns ``x_<name>``).
    actions : ndarray of shape (n,), int64
        The logged action of each round, an index in ``0 .. n_actions - 1`` (column ``action``).
    propensities : ndarray of shape (n,)
        Probability the logging policy gave the logged action, in (0, 1] (column ``propensity``).
    rewards : ndarray of shape (n,)
        The reward that followed, in the objective's unit (column ``reward``).
    n_actions : int
        Size of the action set (the price ladder's length, or the number of items).
    positions : ndarray of shape (n,), int64, optional
        Slot of the round in a ranked list (0 = top; column ``position``). Every probability an
        estimator reads is then the probability of that slot. None: one slot.
    purchased : ndarray of shape (n,), bool, optional
        Whether the visitor bought (column ``purchased``); with ``value_if_bought`` it lets a reward
        model learn P(buy) and price it.
    value_if_bought : ndarray of shape (n, n_actions), optional
        Reward of a sale at each action's price (columns ``value_if_bought_<a>``).
    expected_rewards : ndarray of shape (n, n_actions), optional
        True expected reward of every action, where known (a simulator's oracle; columns
        ``expected_reward_<a>``). Lets a report show the truth beside each estimate.
    action_features : ndarray of shape (n_actions, m), optional
        Features of the actions (log price multiple and coupon flag for a ladder, item features for
        items), used by reward models.
    feature_names : tuple of str
        Names of the ``d`` feature columns (default ``f0 .. f{d-1}``).
    ladder : PriceLadder, optional
        The price actions, when the log is a pricing log; ``n_actions`` must equal its length.
    list_prices, unit_costs : ndarray of shape (n,), optional, in the item's currency
    item_ids, visitor_ids : ndarray of shape (n,), int64, optional
    objective : str, optional
        Name of the objective the rewards measure (for example ``'profit'``).
    """

    features: FloatArray
    actions: IntArray
    propensities: FloatArray
    rewards: FloatArray
    n_actions: int
    positions: IntArray | None = None
    purchased: BoolArray | None = None
    value_if_bought: FloatArray | None = None
    expected_rewards: FloatArray | None = None
    action_features: FloatArray | None = None
    feature_names: tuple[str, ...] = ()
    ladder: PriceLadder | None = None
    list_prices: FloatArray | None = None
    unit_costs: FloatArray | None = None
    item_ids: IntArray | None = None
    visitor_ids: IntArray | None = None
    objective: str | None = field(default=None)

    def __post_init__(self) -> None:
        k = int(self.n_actions)
        if k < 1:
            raise LogValidationError("action", None, f"n_actions must be at least 1, got {k}")
        if self.ladder is not None and self.ladder.n_actions != k:
            raise LogValidationError(
                "action", None, f"n_actions is {k} but the ladder has {self.ladder.n_actions} actions"
            )
        actions = _ints("action", self.actions, None)
        n = actions.shape[0]
        feats = np.asarray(self.features, dtype=np.float64)
        if feats.size == 0:
            feats = feats.reshape(n, 0) if feats.ndim != 2 else feats
        if feats.ndim != 2 or feats.shape[0] != n:
            raise LogValidationError("features", None, f"expected shape ({n}, d), got {feats.shape}")
        names = tuple(self.feature_names) or tuple(f"f{j}" for j in range(feats.shape[1]))
        if len(names) != feats.shape[1]:
            raise LogValidationError(
                "features", None, f"{len(names)} feature names for {feats.shape[1]} feature columns"
            )
        bad = first_bad_row(~np.isfinite(feats))
        if bad is not None:
            col = int(np.flatnonzero(~np.isfinite(feats[bad]))[0])
            raise LogValidationError(f"x_{names[col]}", bad, f"value {feats[bad, col]} is not finite")
        _in_range("action", actions, 0, k, "action")
        props = _floats("propensity", self.propensities, 1, n)
        row = first_bad_row((props <= 0) | (props > 1 + PROPENSITY_TOLERANCE))
        if row is not None:
            raise LogValidationError(
                "propensity",
                row,
                f"propensity {props[row]} is outside (0, 1]; a logged action needs the probability the "
                "logging policy gave it (log it at decision time)",
            )
        rewards = _floats("reward", self.rewards, 1, n)
        set_ = object.__setattr__
        set_(self, "n_actions", k)
        set_(self, "actions", actions)
        set_(self, "features", feats)
        set_(self, "feature_names", names)
        set_(self, "propensities", props)
        set_(self, "rewards", rewards)
        if self.positions is not None:
            pos = _ints("position", self.positions, n)
            row = first_bad_row(pos < 0)
            if row is not None:
                raise LogValidationError("position", row, f"position {pos[row]} is negative")
            set_(self, "positions", pos)
        if self.purchased is not None:
            bought = np.asarray(self.purchased)
            if bought.dtype != np.bool_:
                as_float = _floats("purchased", bought, 1, n)
                row = first_bad_row((as_float != 0) & (as_float != 1))
                if row is not None:
                    raise LogValidationError("purchased", row, f"value {as_float[row]} is not 0 or 1")
                bought = as_float.astype(bool)
            elif bought.shape != (n,):
                raise LogValidationError("purchased", None, f"expected shape ({n},), got {bought.shape}")
            set_(self, "purchased", bought)
        for name, column in (("value_if_bought", "value_if_bought"), ("expected_rewards", "expected_reward")):
            value = getattr(self, name)
            if value is not None:
                arr = _floats(column, value, 2, n)
                if arr.shape[1] != k:
                    raise LogValidationError(column, None, f"has {arr.shape[1]} columns, expected {k}")
                set_(self, name, arr)
        if self.action_features is not None:
            af = _floats("action_features", self.action_features, 2, k)
            set_(self, "action_features", af)
        for name in ("list_prices", "unit_costs"):
            if getattr(self, name) is not None:
                set_(self, name, _floats(name.removesuffix("s"), getattr(self, name), 1, n))
        for name in ("item_ids", "visitor_ids"):
            if getattr(self, name) is not None:
                set_(self, name, _ints(name.removesuffix("s"), getattr(self, name), n))

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of logged rounds."""
        return int(self.actions.shape[0])

    @property
    def n_positions(self) -> int:
        """Number of slots (1 when the log has no positions)."""
        return 1 if self.positions is None or self.n == 0 else int(self.positions.max()) + 1

    @property
    def has_contexts(self) -> bool:
        """Whether :meth:`contexts` can rebuild the pricing contexts a policy needs to act."""
        return (
            self.ladder is not None
            and self.value_if_bought is not None
            and self.list_prices is not None
            and self.unit_costs is not None
        )

    def contexts(self) -> ContextBatch:
        """The pricing contexts of the logged rounds, for a policy's ``action_probabilities``.

        Raises
        ------
        ValueError
            When the log lacks the ladder, list prices, unit costs or value-if-bought columns.
        """
        if not self.has_contexts:
            raise ValueError(
                "these logs cannot rebuild pricing contexts: they need a ladder, list_price, unit_cost "
                "and value_if_bought_<a> columns (logs written by pricepilot.evaluation.log_traffic "
                "have them)"
            )
        assert self.ladder is not None
        assert self.list_prices is not None
        assert self.unit_costs is not None
        assert self.value_if_bought is not None
        zeros = np.zeros(self.n, dtype=np.int64)
        return ContextBatch(
            features=self.features,
            feature_names=self.feature_names,
            ladder=self.ladder,
            prices=self.ladder.prices(self.list_prices),
            value_if_bought=self.value_if_bought,
            list_prices=self.list_prices,
            unit_costs=self.unit_costs,
            item_ids=self.item_ids if self.item_ids is not None else zeros,
            visitor_ids=self.visitor_ids if self.visitor_ids is not None else zeros,
        )

    def true_value(self, target_probs: FloatArray) -> float | None:
        """The target policy's true value per round on these very rounds, where the truth is known.

        ``mean_i sum_a target_probs[i, a] * expected_rewards[i, a]``; None without expected rewards.
        """
        if self.expected_rewards is None:
            return None
        return float(np.mean(np.sum(target_probs * self.expected_rewards, axis=1)))

    def take(self, rows: IntArray | slice) -> LoggedData:
        """The sub-log of the given rows (same metadata)."""

        def pick(value: NDArray[np.generic] | None) -> NDArray[np.generic] | None:
            return None if value is None else value[rows]

        return LoggedData(
            features=self.features[rows],
            actions=self.actions[rows],
            propensities=self.propensities[rows],
            rewards=self.rewards[rows],
            n_actions=self.n_actions,
            positions=pick(self.positions),  # type: ignore[arg-type]
            purchased=pick(self.purchased),  # type: ignore[arg-type]
            value_if_bought=pick(self.value_if_bought),  # type: ignore[arg-type]
            expected_rewards=pick(self.expected_rewards),  # type: ignore[arg-type]
            action_features=self.action_features,
            feature_names=self.feature_names,
            ladder=self.ladder,
            list_prices=pick(self.list_prices),  # type: ignore[arg-type]
            unit_costs=pick(self.unit_costs),  # type: ignore[arg-type]
            item_ids=pick(self.item_ids),  # type: ignore[arg-type]
            visitor_ids=pick(self.visitor_ids),  # type: ignore[arg-type]
            objective=self.objective,
        )

    @classmethod
    def from_outcomes(
        cls,
        outcomes: OutcomeBatch,
        expected_rewards: FloatArray | None = None,
        objective: str | None = None,
    ) -> LoggedData:
        """A pricing log from what followed a policy's decisions (its logged propensities included).

        Parameters
        ----------
        outcomes : OutcomeBatch
        expected_rewards : ndarray of shape (n, n_actions), optional, the truth where known
        objective : str, optional, name of the objective the rewards measure
        """
        ctx = outcomes.contexts
        return cls(
            features=ctx.features,
            actions=outcomes.actions,
            propensities=outcomes.propensities,
            rewards=outcomes.reward,
            n_actions=ctx.ladder.n_actions,
            purchased=outcomes.purchased,
            value_if_bought=ctx.value_if_bought,
            expected_rewards=expected_rewards,
            action_features=ladder_action_features(ctx.ladder),
            feature_names=ctx.feature_names,
            ladder=ctx.ladder,
            list_prices=ctx.list_prices,
            unit_costs=ctx.unit_costs,
            item_ids=ctx.item_ids,
            visitor_ids=ctx.visitor_ids,
            objective=objective,
        )

    @classmethod
    def concat(cls, parts: list[LoggedData]) -> LoggedData:
        """Rows of several logs with the same actions and columns, in order."""
        if not parts:
            raise ValueError("concat needs at least one log")
        first = parts[0]
        for part in parts[1:]:
            if part.n_actions != first.n_actions or part.feature_names != first.feature_names:
                raise ValueError("logs to concatenate must share n_actions and feature names")

        def join(name: str) -> NDArray[np.generic] | None:
            values = [getattr(p, name) for p in parts]
            if any(v is None for v in values):
                return None
            return np.concatenate(values)

        return cls(
            features=np.concatenate([p.features for p in parts]),
            actions=np.concatenate([p.actions for p in parts]),
            propensities=np.concatenate([p.propensities for p in parts]),
            rewards=np.concatenate([p.rewards for p in parts]),
            n_actions=first.n_actions,
            positions=join("positions"),  # type: ignore[arg-type]
            purchased=join("purchased"),  # type: ignore[arg-type]
            value_if_bought=join("value_if_bought"),  # type: ignore[arg-type]
            expected_rewards=join("expected_rewards"),  # type: ignore[arg-type]
            action_features=first.action_features,
            feature_names=first.feature_names,
            ladder=first.ladder,
            list_prices=join("list_prices"),  # type: ignore[arg-type]
            unit_costs=join("unit_costs"),  # type: ignore[arg-type]
            item_ids=join("item_ids"),  # type: ignore[arg-type]
            visitor_ids=join("visitor_ids"),  # type: ignore[arg-type]
            objective=first.objective,
        )


def ladder_action_features(ladder: PriceLadder) -> FloatArray:
    """Features of each price action for reward models, shape (n_actions, 2): log multiple, coupon."""
    return np.column_stack([np.log(ladder.factors), ladder.is_coupon.astype(np.float64)])
