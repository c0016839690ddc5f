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

:meth:`RewardModel.resample_predict` refits the cross-fit on bootstrap resamples of the rounds (one
Newton step per fold), so that an estimate built on the model (the direct method) can carry the
model's own estimation error in its interval.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pricepilot.data.logged import LoggedData
from pricepilot.types import FloatArray, IntArray

Kind = Literal["auto", "purchase", "binary", "regression"]
_PREDICT_CELLS = 4_000_000  # design cells (rows x columns) predicted in one call
_CACHE_CELLS = 8_000_000  # design cells of every action of a fold kept across resamples (64 MB)


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
        fold_of = self._folds(logged)
        kind = self.kind_for(logged)
        target = self._target(logged, kind)
        out = np.empty((logged.n, logged.n_actions))
        for fold in range(self.config.n_folds):
            train, test = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
            model = self._fit(logged, kind, target, train)
            out[test] = self._predict_all(model, logged, test)
        if kind == "purchase":
            assert logged.value_if_bought is not None
            out *= logged.value_if_bought
        return out

    def resample_predict(
        self, logged: LoggedData, n_resamples: int, seed: int = 0
    ) -> Iterator[tuple[IntArray, FloatArray]]:
        """The cross-fit of :meth:`fit_predict` refitted on bootstrap resamples of the rounds.

        The bootstrap of a model-based estimate with the model's own estimation error in it: each
        resample draws ``n`` rounds with replacement; every fold's model is refitted on the drawn copies
        of the other folds' rounds and predicts every round of its own fold. A round keeps its fold in
        every resample, so no copy of a round ever trains the model that predicts it.

        The refit is one Newton step on the resample's penalised loss from the fold's fit on the log
        (the one-step bootstrap, Andrews 2002, "Higher-order improvements of a computationally
        attractive k-step bootstrap for extremum estimators"): exact for ridge regression, and for the
        logistic regression within ``O(1/n)`` of the full refit, far inside the resampling spread of
        order ``1/sqrt(n)``; each fold keeps the standardisation fitted on the log. It costs a few
        matrix products per fold instead of a solver run.

        Parameters
        ----------
        logged : LoggedData, ``n`` rounds
        n_resamples : number of resamples
        seed : seeds the resampling (the folds come from ``config.seed``)

        Yields
        ------
        counts : ndarray of shape (n,), how many times each round was drawn
        predictions : ndarray of shape (n, n_actions), every round's predictions (drawn or not)
        """
        from threadpoolctl import ThreadpoolController

        if n_resamples < 1:
            raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
        blas = ThreadpoolController()  # finding the BLAS libraries once: it costs milliseconds
        n, k = logged.n, logged.n_actions
        fold_of = self._folds(logged)
        kind = self.kind_for(logged)
        target = self._target(logged, kind)
        with blas.limit(limits=self.config.blas_threads, user_api="blas"):
            design = self._design(logged, np.arange(n), logged.actions)
            folds = [
                _LinearFold.fit(self, logged, kind, design, target, fold_of, fold)
                for fold in range(self.config.n_folds)
            ]
        rng = np.random.default_rng(seed)
        for _ in range(n_resamples):
            counts = np.bincount(rng.integers(n, size=n), minlength=n)
            out = np.empty((n, k))
            with blas.limit(limits=self.config.blas_threads, user_api="blas"):
                for f in folds:
                    out[f.test] = f.refit_predict(self, logged, counts * (fold_of != f.fold), target)
            if kind == "purchase":
                assert logged.value_if_bought is not None
                out *= logged.value_if_bought
            yield counts, out

    # ------------------------------------------------------------------ internals
    def _folds(self, logged: LoggedData) -> IntArray:
        """Each round's fold (the split of :meth:`fit_predict`), shape (n,)."""
        from sklearn.model_selection import KFold

        n = logged.n
        if n < self.config.n_folds:
            raise ValueError(f"{n} logged rounds cannot be split into {self.config.n_folds} folds")
        fold_of = np.empty(n, dtype=np.int64)
        folds = KFold(self.config.n_folds, shuffle=True, random_state=self.config.seed)
        for fold, (_, test) in enumerate(folds.split(np.zeros(n))):
            fold_of[test] = fold
        return fold_of

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
        return self._fit_design(kind, self._design(logged, rows, logged.actions[rows]), target[rows])

    def _fit_design(self, kind: Kind, design: FloatArray, y: FloatArray) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if kind != "regression" and np.unique(y).size < 2:
            return _Constant(float(y[0]) if y.size else 0.0)  # a fold without a purchase (or click)
        if kind == "regression":
            return make_pipeline(StandardScaler(), Ridge(alpha=1.0 / self.config.C)).fit(design, y)
        model = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter)
        return make_pipeline(StandardScaler(), model).fit(design, y)

    def _predict_all(self, model: Any, logged: LoggedData, rows: IntArray) -> FloatArray:
        """Predictions of every action for ``rows``, shape (rows, n_actions): the designs of several
        actions are stacked into one call (at most ``_PREDICT_CELLS`` design cells at once)."""
        k, m = logged.n_actions, rows.size
        out = np.empty((k, m))
        width = self._design(logged, rows[:1], logged.actions[:1]).shape[1] if m else 1
        step = max(1, _PREDICT_CELLS // max(m * width, 1))
        for first in range(0, k, step):
            acts = np.arange(first, min(first + step, k))
            design = self._design(logged, np.tile(rows, acts.size), np.repeat(acts, m))
            out[acts] = _predict(model, design).reshape(acts.size, m)
        return out.T


@dataclass
class _LinearFold:
    """One fold's model as a linear predictor on its standardised design, refittable by a Newton step.

    ``theta`` holds the coefficients then the intercept, in the standardised space of the fold's
    scaler; ``scaled`` is the log's design (logged actions) in that space with a column of ones, and
    ``stacked`` every action's design of the fold's rounds (action-major), when it fits in memory.
    """

    fold: int
    test: IntArray
    kind: Kind
    model: Any
    theta: FloatArray | None
    scaled: FloatArray | None
    stacked: FloatArray | None

    @classmethod
    def fit(
        cls,
        owner: RewardModel,
        logged: LoggedData,
        kind: Kind,
        design: FloatArray,
        target: FloatArray,
        fold_of: IntArray,
        fold: int,
    ) -> _LinearFold:
        train, test = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        model = owner._fit_design(kind, design[train], target[train])
        if isinstance(model, _Constant):
            return cls(fold, test, kind, model, None, None, None)
        scaler, linear = model[0], model[-1]
        theta = np.append(np.ravel(linear.coef_), np.ravel(linear.intercept_)[0])
        scaled = _with_ones(scaler.transform(design))
        stacked = None
        k = logged.n_actions
        if k * test.size * scaled.shape[1] <= _CACHE_CELLS:
            every = owner._design(logged, np.tile(test, k), np.repeat(np.arange(k), test.size))
            stacked = _with_ones(scaler.transform(every))
        return cls(fold, test, kind, model, theta, scaled, stacked)

    def refit_predict(
        self, owner: RewardModel, logged: LoggedData, weights: FloatArray, target: FloatArray
    ) -> FloatArray:
        """Predictions of every action for the fold's rounds, shape (test, n_actions), after one
        Newton step on the loss of the training rounds weighted by ``weights`` (shape (n,))."""
        k, m = logged.n_actions, self.test.size
        if self.theta is None or self.scaled is None:
            return np.full((m, k), float(self.model.value))
        rows = np.flatnonzero(weights)
        z, w, y = self.scaled[rows], weights[rows].astype(np.float64), target[rows]
        eta = z @ self.theta
        # sklearn's objectives, as C * sum_i w_i loss_i + |coef|^2 / 2 (the intercept unpenalised)
        if self.kind == "regression":  # Ridge: sum w (y - eta)^2 + alpha |coef|^2, alpha = 1 / C
            residual, curvature = eta - y, np.ones_like(eta)
        else:
            mu = _sigmoid(eta)
            residual, curvature = mu - y, mu * (1.0 - mu)
        c = owner.config.C
        penalty = np.ones_like(self.theta)
        penalty[-1] = 0.0
        gradient = c * (z.T @ (w * residual)) + penalty * self.theta
        hessian = c * (z.T @ (z * (w * curvature)[:, None])) + np.diag(penalty)
        theta = self.theta - np.linalg.solve(hessian, gradient)
        if self.stacked is not None:
            scores = (self.stacked @ theta).reshape(k, m).T
        else:
            scaler = self.model[0]
            scores = np.empty((m, k))
            for a in range(k):
                every = owner._design(logged, self.test, np.full(m, a))
                scores[:, a] = _with_ones(scaler.transform(every)) @ theta
        return scores if self.kind == "regression" else _sigmoid(scores)


def _with_ones(x: FloatArray) -> FloatArray:
    return np.hstack([x, np.ones((x.shape[0], 1))])


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def _predict(model: Any, design: FloatArray) -> FloatArray:
    """The fitted model's expected target on each design row (P(1) of a classifier)."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(design)[:, 1], dtype=np.float64)
    return np.asarray(model.predict(design), dtype=np.float64)


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


def dm_refit_draws(
    logged: LoggedData,
    target_probs: Sequence[FloatArray],
    reward_model: RewardModel,
    n_resamples: int,
    seed: int = 0,
) -> FloatArray:
    """DM's value of each target on bootstrap resamples with the reward model refitted on each.

    Each resample draws the ``n`` rounds with replacement and refits the model's cross-fit on them
    (:meth:`RewardModel.resample_predict`: one Newton step per fold); the target's DM value on the
    resample is
    ``sum_i count_i sum_a pi(a | x_i) q*(x_i, a) / n``. The spread of these values is DM's sampling
    error with the model's own estimation error in it. The resamples are shared by the targets (one
    refit serves them all), so their differences are paired too.

    Parameters
    ----------
    logged : LoggedData, ``n`` rounds
    target_probs : one ndarray of shape (n, n_actions) per target
    reward_model : the model whose predictions DM uses (its config is refitted, the same way)
    n_resamples : resamples (50 give the standard error to about 10%)
    seed : seeds the resampling

    Returns
    -------
    ndarray of shape (n_targets, n_resamples)
    """
    n, k = logged.n, logged.n_actions
    probs = [np.asarray(p, dtype=np.float64) for p in target_probs]
    for i, p in enumerate(probs):
        if p.shape != (n, k):
            raise ValueError(f"target_probs[{i}] must have shape ({n}, {k}), got {p.shape}")
    out = np.empty((len(probs), n_resamples))
    for b, (counts, q) in enumerate(reward_model.resample_predict(logged, n_resamples, seed)):
        for i, p in enumerate(probs):
            out[i, b] = float(counts @ np.sum(p * q, axis=1)) / n
    return out
