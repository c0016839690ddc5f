"""Cross-fitted reward models for the direct method and the doubly robust estimators.

The model predicts the expected reward of every action in every logged round. It is fitted with
cross-fitting: the rounds are split into ``n_folds`` folds, and each fold's predictions come from a
model fitted on the other folds, so no round's prediction has seen that round's reward (which keeps
the doubly robust estimators' intervals honest).

What is learnt depends on what the log holds:

- a pricing log with ``purchased`` and ``value_if_bought``: P(buy | context, action) by logistic
  regression, priced as ``P(buy) * value_if_bought`` (the demand curve, not the reward, is modelled);
- 0/1 rewards (clicks): P(reward = 1 | context, action) by logistic regression;
- any other reward: ridge regression.

The design of a round is ``[features, one-hot action, one-hot slot, features x action features]``
(slots only for ranked logs, the interaction only when the log has action features and
``interactions`` is on), standardised. scikit-learn does the fitting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pricepilot.data.logged import LoggedData
from pricepilot.types import FloatArray, IntArray

Kind = Literal["auto", "purchase", "binary", "regression"]


@dataclass(frozen=True)
class RewardModelConfig:
    """Hyper-parameters of the reward model.

    n_folds : folds of the cross-fitting (at least 2).
    C : inverse regularisation strength of the logistic regression (ridge uses ``alpha = 1 / C``).
    interactions : cross the context features with the log's action features.
    kind : ``'auto'`` (see the module docstring), or force ``'purchase'``, ``'binary'``,
        ``'regression'``.
    max_iter : iterations of the logistic regression's solver.
    seed : seeds the fold assignment.
    blas_threads : BLAS threads while fitting (1: these designs are small, and on a shared machine
        extra threads cost far more in start-up and contention than they save); None leaves it as is.
    """

    n_folds: int = 3
    C: float = 1.0
    interactions: bool = True
    kind: Kind = "auto"
    max_iter: int = 1000
    seed: int = 0
    blas_threads: int | None = 1

    def __post_init__(self) -> None:
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be at least 2 for cross-fitting, got {self.n_folds}")
        if not self.C > 0:
            raise ValueError(f"C must be > 0, got {self.C}")
        if self.kind not in ("auto", "purchase", "binary", "regression"):
            raise ValueError(f"kind must be auto, purchase, binary or regression, got {self.kind!r}")


class RewardModel:
    """Cross-fitted model of each action's expected reward (see the module docstring)."""

    def __init__(self, config: RewardModelConfig | None = None) -> None:
        self.config = config if config is not None else RewardModelConfig()

    def kind_for(self, logged: LoggedData) -> Kind:
        """What the model learns on this log: ``'purchase'``, ``'binary'`` or ``'regression'``."""
        if self.config.kind != "auto":
            if self.config.kind == "purchase" and (
                logged.purchased is None or logged.value_if_bought is None
            ):
                raise ValueError("kind 'purchase' needs purchased and value_if_bought columns in the log")
            return self.config.kind
        if logged.purchased is not None and logged.value_if_bought is not None:
            return "purchase"
        if np.isin(logged.rewards, (0.0, 1.0)).all():
            return "binary"
        return "regression"

    def fit_predict(self, logged: LoggedData) -> FloatArray:
        """Cross-fitted expected reward of every action in every round, shape (n, n_actions).

        Each round's slot is kept: for a ranked log, the prediction is for the action in that slot.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.config.blas_threads, user_api="blas"):
            return self._cross_fit(logged)

    def _cross_fit(self, logged: LoggedData) -> FloatArray:
        from sklearn.model_selection import KFold

        n, k = logged.n, logged.n_actions
        if n < self.config.n_folds:
            raise ValueError(f"{n} logged rounds cannot be split into {self.config.n_folds} folds")
        kind = self.kind_for(logged)
        target = self._target(logged, kind)
        out = np.empty((n, k))
        folds = KFold(self.config.n_folds, shuffle=True, random_state=self.config.seed)
        for train, test in folds.split(np.zeros(n)):
            model = self._fit(logged, kind, target, train)
            out[test] = self._predict_all(model, logged, test)
        if kind == "purchase":
            assert logged.value_if_bought is not None
            out *= logged.value_if_bought
        return out

    # ------------------------------------------------------------------ internals
    def _target(self, logged: LoggedData, kind: Kind) -> FloatArray:
        if kind == "purchase":
            assert logged.purchased is not None
            return logged.purchased.astype(np.float64)
        return logged.rewards

    def _design(self, logged: LoggedData, rows: IntArray, actions: IntArray) -> FloatArray:
        """Design rows ``[x, one-hot a, one-hot slot, x * action features]`` for the given rows/actions."""
        x = logged.features[rows]
        parts = [x, np.eye(logged.n_actions)[actions]]
        if logged.n_positions > 1:
            assert logged.positions is not None
            parts.append(np.eye(logged.n_positions)[logged.positions[rows]][:, 1:])
        if self.config.interactions and logged.action_features is not None and x.shape[1]:
            af = logged.action_features[actions]
            parts.append((x[:, :, None] * af[:, None, :]).reshape(len(rows), -1))
        return np.hstack(parts)

    def _fit(self, logged: LoggedData, kind: Kind, target: FloatArray, rows: IntArray) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = target[rows]
        if kind != "regression" and np.unique(y).size < 2:
            return _Constant(float(y[0]) if y.size else 0.0)  # a fold without a purchase (or click)
        design = self._design(logged, rows, logged.actions[rows])
        if kind == "regression":
            return make_pipeline(StandardScaler(), Ridge(alpha=1.0 / self.config.C)).fit(design, y)
        model = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter)
        return make_pipeline(StandardScaler(), model).fit(design, y)

    def _predict_all(self, model: Any, logged: LoggedData, rows: IntArray) -> FloatArray:
        out = np.empty((rows.size, logged.n_actions))
        proba = hasattr(model, "predict_proba")
        for a in range(logged.n_actions):
            design = self._design(logged, rows, np.full(rows.size, a))
            out[:, a] = model.predict_proba(design)[:, 1] if proba else model.predict(design)
        return out


@dataclass(frozen=True)
class _Constant:
    """Predicts one value everywhere (the rate of a fold whose target never varies)."""

    value: float

    def predict(self, design: FloatArray) -> FloatArray:
        return np.full(design.shape[0], self.value)


def select_reward_model(
    logged: LoggedData, candidates: Sequence[RewardModelConfig]
) -> tuple[RewardModel, FloatArray, dict[int, float]]:
    """The candidate whose cross-fitted predictions of the logged rewards have the least squared error.

    Model selection that uses the log alone: each candidate's cross-fitted prediction for the logged
    action is scored by ``mean_i (r_i - q(x_i, a_i))^2`` (the Brier score for clicks).

    Returns
    -------
    the chosen model, its cross-fitted predictions (n, n_actions), and every candidate's score by index
    """
    if not candidates:
        raise ValueError("select_reward_model needs at least one candidate config")
    rows = np.arange(logged.n)
    scores: dict[int, float] = {}
    best: tuple[float, RewardModel, FloatArray] | None = None
    for index, config in enumerate(candidates):
        model = RewardModel(config)
        predictions = model.fit_predict(logged)
        scores[index] = float(np.mean(np.square(logged.rewards - predictions[rows, logged.actions])))
        if best is None or scores[index] < best[0]:
            best = (scores[index], model, predictions)
    assert best is not None
    return best[1], best[2], scores
