from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

import pricepilot as pp
from pricepilot.policies.logistic import LogisticTS, LogisticTSConfig, _sigmoid, laplace_update


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 3))])
    w = np.array([-1.0, 0.8, -0.5, 0.3])
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ w))).astype(float)
    return X, y, w


def test_laplace_mode_is_the_map_estimate() -> None:
    X, y, _ = _synthetic(2_000, 0)
    prior = 2.0 * np.eye(4)

    def neg_log_post(w: np.ndarray) -> float:
        u = X @ w
        return float(0.5 * w @ prior @ w + np.sum(np.logaddexp(0, u) - y * u))

    expected = minimize(neg_log_post, np.zeros(4), method="BFGS", options={"gtol": 1e-10}).x
    mode, precision = laplace_update(np.zeros(4), prior, X, y, newton_steps=8)
    np.testing.assert_allclose(mode, expected, atol=1e-5)
    assert np.all(np.linalg.eigvalsh(precision) > 2.0 - 1e-9)  # data only adds precision


def test_online_updates_recover_the_weights() -> None:
    X, y, w = _synthetic(40_000, 1)
    mean, precision = np.zeros(4), np.eye(4)
    for rows in np.array_split(np.arange(X.shape[0]), 40):
        mean, precision = laplace_update(mean, precision, X[rows], y[rows])
    sd = np.sqrt(np.diag(np.linalg.inv(precision)))
    assert np.all(np.abs(mean - w) < 4 * sd + 0.02)


def test_learns_demand_and_beats_the_best_uniform_price() -> None:
    market = pp.market.make("ecommerce", seed=1, n_visitors=5_000)
    report = pp.evaluation.benchmark(market, {"lts": "logistic_ts", "best": "best_uniform"}, visits=60_000)
    table = report.table().set_index("policy")
    assert table.loc["lts", "reward_to_oracle_tail"] > table.loc["best", "reward_to_oracle_tail"] + 0.01


def test_learned_demand_falls_with_price() -> None:
    market = pp.market.make("ecommerce", seed=2, n_visitors=5_000)
    policy = pp.policies.make("logistic_ts", market.ladder)
    uniform = pp.policies.make("uniform_random", market.ladder)
    for _ in range(30):
        batch = market.observe(1_000)
        policy.update(market.step(batch, uniform.act(batch.context)))
    contexts = market.observe(500).context
    p = policy.purchase_probabilities(contexts, policy.mean_[None, :])[:, 0, :]  # type: ignore[attr-defined]
    assert np.mean(np.diff(p, axis=1) < 0) > 0.95


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="prior_precision must be > 0"):
        LogisticTSConfig(prior_precision=0)


@pytest.mark.parametrize("name", ["logistic_ts", "neural_linear"])
def test_purchase_probabilities_of_is_the_posterior_mean_and_draws_nothing(name: str, tmp_path: Path) -> None:
    market = pp.market.make("ecommerce", seed=3, n_visitors=2_000)
    policy = pp.policies.make(name, market.ladder, seed=4)
    assert isinstance(policy, pp.policies.PurchaseModel)
    for _ in range(3):
        batch = market.observe(500)
        policy.update(market.step(batch, policy.act(batch.context)))
    contexts = market.observe(200).context
    policy.save(tmp_path / "twin")
    twin = pp.policies.load(tmp_path / "twin")
    probs = policy.purchase_probabilities_of(contexts)
    mean = policy.purchase_probabilities(contexts, policy.mean_[None, :])[:, 0, :]  # type: ignore[attr-defined]
    np.testing.assert_array_equal(probs, mean)
    assert probs.shape == (contexts.n, market.ladder.n_actions)
    assert np.all((probs > 0) & (probs < 1))
    # no state changed, no random number drawn: the same decisions as a copy that was never asked
    for _ in range(2):
        ours, theirs = policy.act(contexts), twin.act(contexts)
        np.testing.assert_array_equal(ours.actions, theirs.actions)
        np.testing.assert_array_equal(ours.propensities, theirs.propensities)
        policy.purchase_probabilities_of(contexts)
    np.testing.assert_array_equal(policy.purchase_probabilities_of(contexts), probs)


def test_purchase_probabilities_of_an_unfitted_policy_is_the_prior() -> None:
    market = pp.market.make("ecommerce", seed=0)
    policy = pp.policies.make("logistic_ts", market.ladder)
    contexts = market.observe(5).context
    np.testing.assert_array_equal(policy.purchase_probabilities_of(contexts), 0.5)  # type: ignore[attr-defined]
    assert policy.mean_.size == 0  # type: ignore[attr-defined]  # asking did not fit anything


def _random_contexts(
    ladder: pp.types.PriceLadder, n: int, d: int, seed: int, ties: bool
) -> pp.types.ContextBatch:
    rng = np.random.default_rng(seed)
    list_prices = rng.uniform(5.0, 50.0, n)
    prices = ladder.prices(list_prices)
    value = prices - rng.uniform(0.0, 20.0, n)[:, None]
    if ties and n:
        value[0] = 0.0  # every action ties on the first row's every draw
        value[n // 2] = np.nan  # and no action is best on another's
    return pp.types.ContextBatch(
        features=rng.standard_normal((n, d)),
        feature_names=tuple(f"x{j}" for j in range(d)),
        ladder=ladder,
        prices=prices,
        value_if_bought=value,
        list_prices=list_prices,
        unit_costs=rng.uniform(0.0, 5.0, n),
        item_ids=np.arange(n),
        visitor_ids=np.arange(n),
    )


def _plain_action_probabilities(policy: LogisticTS, contexts: pp.types.ContextBatch) -> np.ndarray:
    """The share of winning draws as first written: argmax over the actions of ``(n, m, k)`` scores."""
    z = np.column_stack([np.ones(contexts.n), contexts.features])
    visit, coupon = policy._posterior_draws()
    m, k = coupon.size, policy.n_actions
    log_factors, is_coupon = np.log(policy.ladder.factors), policy.ladder.is_coupon.astype(np.float64)
    both = z @ visit
    logit = both[:, :m, None] + both[:, m:, None] * log_factors
    if is_coupon.any():
        logit = logit + coupon[None, :, None] * is_coupon
    winners = np.argmax(contexts.value_if_bought[:, None, :] / (1.0 + np.exp(-logit)), axis=2)
    counts = np.array([np.bincount(row, minlength=k) for row in winners]).reshape(contexts.n, k)
    floor = 0.5 / k
    return (counts + floor) / (m + k * floor)


@pytest.mark.parametrize("coupons", [(), (0.1, 0.25)])
@pytest.mark.parametrize("n", [0, 1, 3, 20])
def test_probabilities_are_bit_for_bit_the_plain_computation(coupons: tuple[float, ...], n: int) -> None:
    ladder = pp.types.PriceLadder.linear(coupons=coupons)
    for seed in range(6):
        policy = LogisticTS(ladder, LogisticTSConfig(posterior_draws=8 + 50 * seed), seed=seed)
        contexts = _random_contexts(ladder, n, 5, seed, ties=seed % 3 == 2)
        policy.action_probabilities(contexts)  # sizes the model
        rng = np.random.default_rng(seed)
        policy.mean_ = rng.normal(0.0, 1.0, policy.mean_.size)
        policy.chol_ = np.tril(rng.normal(0.0, 0.3, policy.chol_.shape))
        policy._draws = None
        got = policy.action_probabilities(contexts)
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, _plain_action_probabilities(policy, contexts), strict=True)
        # the posterior mean's P(buy), as purchase_probabilities gives it for one weight vector
        mean = policy.mean_[None, :]
        expected = policy.purchase_probabilities(contexts, mean)[:, 0, :]
        np.testing.assert_array_equal(policy.purchase_probabilities_of(contexts), expected, strict=True)
        z = np.column_stack([np.ones(n), contexts.features])
        p = z.shape[1]
        both = z @ np.hstack([mean[:, :p].T, mean[:, p : 2 * p].T])
        logit = both[:, :1, None] + both[:, 1:, None] * np.log(ladder.factors)
        if coupons:
            logit = logit + mean[:, 2 * p][None, :, None] * ladder.is_coupon
        np.testing.assert_array_equal(expected, _sigmoid(logit)[:, 0, :], strict=True)
