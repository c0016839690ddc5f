from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pricepilot as pp
from pricepilot.data import LoggedData
from pricepilot.evaluation import (
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    Estimator,
    SelfNormalizedDR,
    SwitchDR,
    UnreliableEstimateWarning,
    available_estimators,
    make_estimator,
)
from pricepilot.evaluation.estimators import ESTIMATORS, Parts

# A hand-built log of 4 rounds and 2 actions; every figure below is worked out by hand.
LOG = LoggedData(
    features=np.zeros((4, 0)),
    actions=np.array([0, 1, 0, 1]),
    propensities=np.array([0.5, 0.5, 0.25, 0.75]),
    rewards=np.array([1.0, 0.0, 2.0, 1.0]),
    n_actions=2,
)
TARGET = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])  # weights 2, 0, 2, 4/3
Q = np.array([[0.5, 0.2], [0.4, 0.1], [1.0, 1.5], [0.3, 0.6]])  # q(a_i) .5 .1 1 .6; dm .5 .4 1.25 .6

EXACT = {
    "ips": (2 + 0 + 4 + 4 / 3) / 4,
    "snips": (2 + 0 + 4 + 4 / 3) / (2 + 0 + 2 + 4 / 3),
    "dm": (0.5 + 0.4 + 1.25 + 0.6) / 4,
    "dr": (2.75 + 1 + 0 + 2 + 0.4 * 4 / 3) / 4,
    "sndr": 2.75 / 4 + (1 + 0 + 2 + 0.4 * 4 / 3) / (2 + 0 + 2 + 4 / 3),
    "switch_dr": (2.75 + 0.4 * 4 / 3) / 4,  # threshold 1.5 keeps the residuals of rows 1 and 3
}


def _estimate(name: str, **options: Any) -> Any:
    if name == "switch_dr":
        options.setdefault("threshold", 1.5)
    with pytest.warns(UnreliableEstimateWarning):  # four rounds are never enough
        return make_estimator(name, **options).estimate(LOG, TARGET, Q)


@pytest.mark.parametrize("name", list(EXACT))
def test_exact_values_on_a_hand_built_log(name: str) -> None:
    assert _estimate(name).value == pytest.approx(EXACT[name], rel=1e-12)


def test_clipping_caps_the_weights() -> None:
    assert _estimate("ips", clip=1.5).value == pytest.approx((1.5 + 0 + 3 + 4 / 3) / 4, rel=1e-12)
    assert _estimate("ips", clip=1.5).diagnostics.clipped_share == 0.5


def test_normal_interval_is_the_influence_interval() -> None:
    est = _estimate("ips")
    psi = np.array([2.0, 0.0, 4.0, 4 / 3])
    se = psi.std(ddof=1) / 2
    assert est.std_error == pytest.approx(se)
    assert est.ci_low == pytest.approx(est.value - 1.959963984540054 * se)
    assert est.ci_high == pytest.approx(est.value + 1.959963984540054 * se)


def test_diagnostics_by_hand() -> None:
    d = _estimate("snips").diagnostics
    w = np.array([2.0, 0.0, 2.0, 4 / 3])
    assert d.effective_sample_size == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert d.max_weight == 2.0
    assert d.never_taken_share == 0.25
    assert not d.trustworthy
    assert any("effective sample size" in w for w in d.warnings)


def _bandit(n: int, seed: int, k: int = 3) -> tuple[LoggedData, np.ndarray, np.ndarray, float]:
    """Context-free Bernoulli bandit logged under a skewed policy; a target and its exact value."""
    rng = np.random.default_rng(seed)
    logging = np.array([0.5, 0.3, 0.2])[:k]
    means = np.array([0.2, 0.5, 0.7])[:k]
    actions = rng.choice(k, size=n, p=logging)
    rewards = (rng.random(n) < means[actions]).astype(float)
    x = rng.standard_normal((n, 2))
    logged = LoggedData(x, actions, logging[actions], rewards, k)
    target = np.tile(np.array([0.1, 0.2, 0.7])[:k], (n, 1))
    q = np.tile(means, (n, 1)) + 0.05  # a slightly wrong reward model
    return logged, target, q, float(target[0] @ means)


def test_estimators_agree_with_the_truth_on_a_large_log() -> None:
    logged, target, q, truth = _bandit(40_000, seed=5)
    for name in ("ips", "snips", "dr", "sndr", "switch_dr"):
        est = make_estimator(name).estimate(logged, target, q)
        assert abs(est.value - truth) < 4 * est.std_error, name
    dm = make_estimator("dm").estimate(logged, target, q)
    assert dm.value == pytest.approx(truth + 0.05)  # DM inherits the model's bias; DR removes it


def test_snips_is_invariant_to_a_reward_shift() -> None:
    logged, target, _, _ = _bandit(500, seed=1)
    shifted = LoggedData(logged.features, logged.actions, logged.propensities, logged.rewards + 10.0, 3)
    a = SNIPS().estimate(logged, target).value
    b = SNIPS().estimate(shifted, target).value
    assert b == pytest.approx(a + 10.0, rel=1e-12)
    assert IPS().estimate(shifted, target).value != pytest.approx(a + 10.0, rel=1e-3)


def test_dr_reduces_to_its_parts() -> None:
    logged, target, q, _ = _bandit(500, seed=2)
    zeros = np.zeros_like(q)
    assert DoublyRobust().estimate(logged, target, zeros).value == pytest.approx(
        IPS().estimate(logged, target).value
    )
    assert SelfNormalizedDR().estimate(logged, target, zeros).value == pytest.approx(
        SNIPS().estimate(logged, target).value
    )
    # rewards equal to the model's predictions leave no residual: DR is DM
    exact = LoggedData(logged.features, logged.actions, logged.propensities, q[0, logged.actions], 3)
    assert DoublyRobust().estimate(exact, target, q).value == pytest.approx(
        DirectMethod().estimate(exact, target, q).value
    )
    # switch: an infinite threshold is DR, a tiny one is DM
    assert SwitchDR(threshold=math.inf).estimate(logged, target, q).value == pytest.approx(
        DoublyRobust().estimate(logged, target, q).value
    )
    assert SwitchDR(threshold=1e-9).estimate(logged, target, q).value == pytest.approx(
        DirectMethod().estimate(logged, target, q).value
    )


def test_evaluating_the_logging_policy_gives_the_on_policy_mean() -> None:
    logged, _, _, _ = _bandit(800, seed=3)
    logging = np.tile([0.5, 0.3, 0.2], (800, 1))
    for est in (IPS(), SNIPS()):
        assert est.estimate(logged, logging).value == pytest.approx(logged.rewards.mean())


def test_bootstrap_interval_is_seeded_and_close_to_the_normal_one() -> None:
    logged, target, q, _ = _bandit(3_000, seed=4)
    a = DoublyRobust(interval="bootstrap", n_bootstrap=400, seed=1).estimate(logged, target, q)
    b = DoublyRobust(interval="bootstrap", n_bootstrap=400, seed=1).estimate(logged, target, q)
    normal = DoublyRobust().estimate(logged, target, q)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert a.ci_low == pytest.approx(normal.ci_low, abs=0.5 * normal.std_error)
    assert a.ci_high == pytest.approx(normal.ci_high, abs=0.5 * normal.std_error)


def test_parts_resampled_matches_value_on_the_identity_resample() -> None:
    parts = Parts(direct=np.array([1.0, 2.0]), weighted=np.array([3.0, 1.0]), normaliser=np.array([1.0, 3.0]))
    value, psi = parts.value_and_influence()
    assert value == pytest.approx(1.5 + 4 / 4)
    assert psi.mean() == pytest.approx(value)
    assert parts.resampled(np.array([[0, 1]]))[0] == pytest.approx(value)


BAD_INPUTS = [
    (np.full((4, 3), 1 / 3), r"target_probs must have shape \(4, 2\)"),
    (np.array([[1.0, 0.0], [0.5, 0.4], [1.0, 0.0], [1.0, 0.0]]), r"target_probs row 1 sums to 0\.9"),
    (np.array([[1.0, 0.0], [1.0, 0.0], [1.5, -0.5], [1.0, 0.0]]), r"target_probs row 2 is not a probability"),
]


@pytest.mark.parametrize(("probs", "message"), BAD_INPUTS)
def test_bad_target_probabilities_are_rejected(probs: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IPS().estimate(LOG, probs)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown estimator 'magic'"):
        make_estimator("magic")
    with pytest.raises(ValueError, match="clip must be > 0"):
        IPS(clip=0)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        SNIPS(alpha=1.5)
    with pytest.raises(ValueError, match="interval must be 'normal' or 'bootstrap'"):
        IPS(interval="bayes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unexpected keyword"):
        make_estimator("ips", threshold=3)


# ---------------------------------------------------------------- the contract every estimator keeps
@pytest.mark.parametrize("name", available_estimators())
@pytest.mark.parametrize("interval", ["normal", "bootstrap"])
def test_estimator_contract(name: str, interval: str) -> None:
    est = make_estimator(name, interval=interval, n_bootstrap=200)
    assert isinstance(est, Estimator)
    assert ESTIMATORS[name] is type(est)
    logged, target, q, _ = _bandit(2_000, seed=11)
    e = est.estimate(logged, target, q)
    assert e.estimator == name
    assert e.interval == interval
    assert math.isfinite(e.value)
    assert e.ci_low <= e.value <= e.ci_high
    assert e.std_error > 0
    assert e.diagnostics.n == 2_000
    assert e.diagnostics.trustworthy
    assert e.to_dict()["diagnostics"]["n"] == 2_000
    # the same rounds in another order give the same value
    order = np.random.default_rng(0).permutation(2_000)
    assert est.estimate(logged.take(order), target[order], q[order]).value == pytest.approx(e.value)
    # deterministic
    assert est.estimate(logged, target, q) == e
    if est.needs_reward_model:
        with pytest.raises(ValueError, match="needs reward_predictions"):
            est.estimate(logged, target)


@pytest.mark.parametrize("name", available_estimators())
def test_estimator_warns_when_overlap_is_poor(name: str) -> None:
    rng = np.random.default_rng(12)
    logging = np.array([0.495, 0.495, 0.01])  # the target's action is logged about 20 times in 2,000
    actions = rng.choice(3, size=2_000, p=logging)
    rare = LoggedData(rng.standard_normal((2_000, 1)), actions, logging[actions], rng.random(2_000), 3)
    target = np.tile([0.0, 0.0, 1.0], (2_000, 1))
    with pytest.warns(UnreliableEstimateWarning, match="effective sample size"):
        e = make_estimator(name).estimate(rare, target, np.full((2_000, 3), 0.5))
    assert not e.diagnostics.trustworthy
    assert e.diagnostics.effective_sample_size < 100


def test_dm_interval_comes_from_the_refitted_draws_when_given() -> None:
    from scipy.stats import norm

    from pricepilot.evaluation import prepare

    draws = np.array([0.5, 0.9, 0.6, 0.8, 0.7, 0.75, 0.65, 0.55, 0.85, 0.7])
    with pytest.warns(UnreliableEstimateWarning):
        normal = DirectMethod().estimate_inputs(prepare(LOG, TARGET, Q, dm_draws=draws))
    se = float(np.std(draws, ddof=1))
    z = float(norm.ppf(0.975))
    assert normal.value == pytest.approx(EXACT["dm"])  # the point estimate does not change
    assert normal.std_error == pytest.approx(se)
    assert (normal.ci_low, normal.ci_high) == pytest.approx((EXACT["dm"] - z * se, EXACT["dm"] + z * se))
    with pytest.warns(UnreliableEstimateWarning):
        boot = DirectMethod(interval="bootstrap").estimate_inputs(prepare(LOG, TARGET, Q, dm_draws=draws))
    assert (boot.ci_low, boot.ci_high) == (normal.ci_low, normal.ci_high)  # the standard-error interval
    for name in ("ips", "snips", "dr", "sndr"):  # the other estimators ignore the draws
        with pytest.warns(UnreliableEstimateWarning):
            plain = make_estimator(name).estimate(LOG, TARGET, Q)
        with pytest.warns(UnreliableEstimateWarning):
            given = make_estimator(name).estimate_inputs(prepare(LOG, TARGET, Q, dm_draws=draws))
        assert (given.ci_low, given.ci_high, given.std_error) == (
            plain.ci_low,
            plain.ci_high,
            plain.std_error,
        )


@pytest.mark.parametrize(
    ("draws", "message"),
    [
        (np.array([1.0]), r"dm_draws must have shape \(n_resamples,\) with n_resamples >= 2, got \(1,\)"),
        (np.ones((2, 3)), r"got \(2, 3\)"),
        (np.array([1.0, np.nan, 2.0]), "dm_draws entry 1 is not finite"),
    ],
)
def test_bad_dm_draws_are_rejected(draws: np.ndarray, message: str) -> None:
    from pricepilot.evaluation import prepare

    with pytest.raises(ValueError, match=message):
        prepare(LOG, TARGET, Q, dm_draws=draws)


def test_refitting_the_model_widens_dm_interval(uniform_logs: tuple[Any, LoggedData]) -> None:
    from pricepilot.evaluation import RewardModel, dm_refit_draws, prepare

    market, full = uniform_logs
    logged = full.take(slice(0, 2_000))
    model = RewardModel()
    q = model.fit_predict(logged)
    contexts = logged.contexts()
    targets = [
        pp.policies.make("fixed", market.ladder, action=a).action_probabilities(contexts) for a in (2, 6)
    ]
    draws = dm_refit_draws(logged, targets, model, 10, seed=0)
    assert draws.shape == (2, 10)
    for probs, target_draws in zip(targets, draws, strict=True):
        fixed = DirectMethod().estimate(logged, probs, q)
        refit = DirectMethod().estimate_inputs(prepare(logged, probs, q, dm_draws=target_draws))
        assert refit.value == fixed.value
        # the model's own estimation error dominates DM's error: held fixed, the interval misses it
        assert refit.std_error > 2 * fixed.std_error
        assert refit.ci_high - refit.ci_low > 2 * (fixed.ci_high - fixed.ci_low)
        assert refit.ci_low < refit.value < refit.ci_high
    with pytest.raises(ValueError, match=r"target_probs\[1\] must have shape"):
        dm_refit_draws(logged, [targets[0], targets[1][:5]], model, 3)
