from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pricepilot.data import LoggedData
from pricepilot.evaluation import RewardModel, RewardModelConfig, select_reward_model


def test_pricing_log_learns_purchase_probability_priced_by_value(
    uniform_logs: tuple[Any, LoggedData],
) -> None:
    _, logged = uniform_logs
    model = RewardModel()
    assert model.kind_for(logged) == "purchase"
    q = model.fit_predict(logged)
    assert q.shape == (logged.n, logged.n_actions)
    assert logged.expected_rewards is not None
    # close to the oracle's truth on average and well correlated with it
    assert q.mean() == pytest.approx(logged.expected_rewards.mean(), rel=0.1)
    assert np.corrcoef(q.ravel(), logged.expected_rewards.ravel())[0, 1] > 0.6


def _logged_and_flipped(seed: int) -> tuple[LoggedData, LoggedData]:
    """600 logged rounds of 3 uniform actions, and the same with round 5's reward flipped."""
    rng = np.random.default_rng(seed)
    n = 600
    x = rng.standard_normal((n, 3))
    actions = rng.integers(3, size=n)
    rewards = (rng.random(n) < 0.3).astype(float)
    logged = LoggedData(x, actions, np.full(n, 1 / 3), rewards, 3)
    flipped = LoggedData(x, actions, np.full(n, 1 / 3), np.where(np.arange(n) == 5, 1 - rewards, rewards), 3)
    return logged, flipped


def test_cross_fitting_keeps_a_rounds_reward_out_of_its_prediction() -> None:
    logged, flipped = _logged_and_flipped(0)
    a, b = RewardModel().fit_predict(logged), RewardModel().fit_predict(flipped)
    np.testing.assert_array_equal(a[5], b[5])  # round 5's own reward never reaches its prediction
    assert not np.array_equal(a, b)  # but it does reach the other folds'


def test_kinds_and_constant_folds() -> None:
    n = 90
    x = np.random.default_rng(1).standard_normal((n, 2))
    zeros = LoggedData(x, np.arange(n) % 3, np.full(n, 1 / 3), np.zeros(n), 3)
    assert RewardModel().kind_for(zeros) == "binary"
    np.testing.assert_array_equal(RewardModel().fit_predict(zeros), 0.0)  # no click anywhere: predict 0
    money = LoggedData(x, np.arange(n) % 3, np.full(n, 1 / 3), x[:, 0] * 3 + 10, 3)
    assert RewardModel().kind_for(money) == "regression"
    q = RewardModel().fit_predict(money)
    assert np.abs(q[np.arange(n), money.actions] - money.rewards).mean() < 1.0


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        RewardModelConfig(n_folds=1)
    with pytest.raises(ValueError, match="C must be > 0"):
        RewardModelConfig(C=0)
    n = 30
    logged = LoggedData(np.zeros((n, 1)), np.zeros(n, dtype=int), np.ones(n), np.zeros(n), 1)
    with pytest.raises(ValueError, match="kind 'purchase' needs purchased"):
        RewardModel(RewardModelConfig(kind="purchase")).fit_predict(logged)


def test_selection_picks_the_lowest_cross_fitted_error(uniform_logs: tuple[Any, LoggedData]) -> None:
    _, logged = uniform_logs
    small = logged.take(np.arange(2_000))
    configs = [RewardModelConfig(C=1e-6), RewardModelConfig(C=1.0)]
    model, predictions, scores = select_reward_model(small, configs)
    assert model.config == configs[1]  # a model regularised to a constant predicts worse
    assert scores[1] < scores[0]
    assert predictions.shape == (2_000, small.n_actions)


def test_resamples_refit_the_cross_fit_without_leaking_a_rounds_copies() -> None:
    logged, flipped = _logged_and_flipped(1)
    n = logged.n
    model = RewardModel()
    draws = list(model.resample_predict(logged, 4, seed=3))
    again = list(model.resample_predict(flipped, 4, seed=3))
    assert len(draws) == 4
    for (counts, q), (counts_b, q_b) in zip(draws, again, strict=True):
        assert counts.shape == (n,)
        assert counts.sum() == n
        assert q.shape == (n, 3)
        np.testing.assert_array_equal(counts, counts_b)  # seeded: the same resamples
        np.testing.assert_array_equal(q[5], q_b[5])  # no copy of round 5 trains its own prediction
    assert any(c[5] > 0 and not np.array_equal(q, q_b) for (c, q), (_, q_b) in zip(draws, again, strict=True))
    # every resample refits: the predictions move from resample to resample and off the plain fit
    assert not np.allclose(draws[0][1], draws[1][1])
    assert not np.allclose(draws[0][1], model.fit_predict(logged))
    with pytest.raises(ValueError, match="n_resamples must be at least 1, got 0"):
        next(model.resample_predict(logged, 0))


@pytest.mark.parametrize(("kind", "tolerance"), [("regression", 1e-9), ("purchase", 0.02)])
def test_the_refit_step_leaves_the_fit_on_the_log_where_it_is(
    uniform_logs: tuple[Any, LoggedData], kind: str, tolerance: float
) -> None:
    from pricepilot.evaluation.reward_model import _LinearFold

    _, full = uniform_logs
    logged = full.take(slice(0, 1_500))
    model = RewardModel(RewardModelConfig(kind=kind))  # type: ignore[arg-type]
    plain = model.fit_predict(logged)
    fold_of = model._folds(logged)
    target = model._target(logged, model.kind_for(logged))
    design = model._design(logged, np.arange(logged.n), logged.actions)
    stepped = np.empty_like(plain)
    for fold in range(model.config.n_folds):
        f = _LinearFold.fit(model, logged, model.kind_for(logged), design, target, fold_of, fold)
        stepped[f.test] = f.refit_predict(model, logged, (fold_of != fold).astype(float), target)
    if kind == "purchase":
        assert logged.value_if_bought is not None
        stepped *= logged.value_if_bought
    # a Newton step on the log's own rows from their optimum stays there: exact for ridge, within the
    # logistic solver's tolerance otherwise (so the gradient and Hessian are sklearn's objective's)
    np.testing.assert_allclose(stepped, plain, atol=tolerance * np.abs(plain).max())
