"""The peers (Vowpal Wabbit, MABWiser) as PricePilot policies: honest probabilities, learning, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

import pricepilot as pp
from pricepilot.market import Market
from pricepilot.policies import PolicyBase
from pricepilot.policies.peers import argmax_probabilities
from pricepilot.policies.peers.common import learning_rewards, register_if_installed, require
from pricepilot.types import ContextBatch, OutcomeBatch, PriceLadder

VW = ["vw_squarecb", "vw_epsilon"]
MAB = ["mab_linucb", "mab_lints"]
LIBRARY = {"vw_squarecb": "vowpalwabbit", "vw_epsilon": "vowpalwabbit"} | dict.fromkeys(MAB, "mabwiser")


def _needs(name: str) -> None:
    pytest.importorskip(LIBRARY[name])


def _warm(policy: PolicyBase, market: Market, rounds: int = 5, n: int = 200) -> None:
    for _ in range(rounds):
        batch = market.observe(n)
        policy.update(market.step(batch, policy.act(batch.context)))


# ---------------------------------------------------------------- a world where the best price is known
LADDER = PriceLadder.linear(0.8, 1.2, 5)


def _contexts(n: int, rng: np.random.Generator) -> ContextBatch:
    """Visitors of two kinds (feature 0 is 0 or 1) and a noise feature; list price 1."""
    kind = rng.integers(0, 2, n).astype(float)
    features = np.column_stack([kind, rng.normal(size=n)])
    prices = LADDER.prices(np.ones(n))
    return ContextBatch(
        features=features,
        feature_names=("kind", "noise"),
        ladder=LADDER,
        prices=prices,
        value_if_bought=prices,
        list_prices=np.ones(n),
        unit_costs=np.zeros(n),
        item_ids=np.zeros(n, dtype=np.int64),
        visitor_ids=np.arange(n),
    )


def _best(contexts: ContextBatch) -> np.ndarray:
    """Kind-1 visitors are best served action 3, kind-0 visitors action 1."""
    return np.where(contexts.features[:, 0] > 0.5, 3, 1)


def _outcomes(contexts: ContextBatch, actions: np.ndarray, propensities: np.ndarray) -> OutcomeBatch:
    """Reward 1 for the best action, 0.5 for its neighbours, 0 otherwise (plus nothing random)."""
    gap = np.abs(actions - _best(contexts))
    reward = np.where(gap == 0, 1.0, np.where(gap == 1, 0.5, 0.0))
    return OutcomeBatch(contexts, actions, propensities, reward > 0, reward, reward, reward)


@pytest.mark.parametrize("name", VW + MAB)
def test_learns_each_visitors_best_action(name: str) -> None:
    _needs(name)
    rng = np.random.default_rng(5)
    policy = pp.policies.make(name, LADDER, seed=1)
    for _ in range(30):
        contexts = _contexts(100, rng)
        decision = policy.act(contexts)
        policy.update(_outcomes(contexts, decision.actions, decision.propensities))
    test = _contexts(400, rng)
    probs = policy.action_probabilities(test)
    chosen = probs[np.arange(test.n), _best(test)]
    assert np.mean(probs.argmax(axis=1) == _best(test)) > 0.95
    assert chosen.mean() > 0.6


@pytest.mark.parametrize("name", VW + MAB)
def test_beats_uniform_prices_on_a_small_market(name: str) -> None:
    """After 20,000 visits the peer has closed a fifth of the gap between uniform random prices and the
    oracle (measured with the oracle's expected rewards, so no luck is involved)."""
    _needs(name)
    market = pp.market.make("ecommerce", seed=0, n_items=5, n_visitors=500)
    policy = pp.policies.make(name, market.ladder, seed=0)
    _warm(policy, market, rounds=20, n=1_000)
    batch = market.observe(5_000)
    expected = market.oracle.expected_rewards(batch)
    learned = float((policy.action_probabilities(batch.context) * expected).sum())
    uniform = float(expected.mean(axis=1).sum())
    oracle = float(expected.max(axis=1).sum())
    assert (learned - uniform) / (oracle - uniform) > 0.2


# ---------------------------------------------------------------- Vowpal Wabbit
@pytest.mark.parametrize("name", VW)
def test_vw_probabilities_are_its_pmf_and_the_logged_propensities(name: str, market: Market) -> None:
    _needs(name)
    policy = pp.policies.make(name, market.ladder, seed=2)
    _warm(policy, market)
    batch = market.observe(300)
    probs = policy.action_probabilities(batch.context)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(probs > 0), "VW's exploration keeps every action possible"
    from pricepilot.policies.features import visit_features
    from pricepilot.policies.peers.vowpal import action_lines, shared_lines

    shared = shared_lines(visit_features(batch.context))
    raw = np.array([policy._vw.predict([s, *action_lines(market.ladder)]) for s in shared[:20]])  # type: ignore[attr-defined]
    np.testing.assert_allclose(raw.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs[:20], raw, rtol=1e-5, atol=1e-7)
    decision = policy.act(batch.context)
    rows = np.arange(batch.context.n)
    np.testing.assert_array_equal(decision.propensities, probs[rows, decision.actions])


def test_vw_epsilon_spreads_epsilon_uniformly(market: Market) -> None:
    _needs("vw_epsilon")
    policy = pp.policies.make("vw_epsilon", market.ladder, epsilon=0.2)
    _warm(policy, market)
    probs = policy.action_probabilities(market.observe(50).context)
    np.testing.assert_allclose(np.sort(probs, axis=1)[:, :-1], 0.2 / 9, rtol=1e-5)
    np.testing.assert_allclose(probs.max(axis=1), 0.8 + 0.2 / 9, rtol=1e-5)


def test_vw_command_line_names_the_settings(market: Market) -> None:
    _needs("vw_squarecb")
    policy = pp.policies.make("vw_squarecb", market.ladder, seed=9, learning_rate=0.25)
    args = " ".join(policy.vw_arguments())  # type: ignore[attr-defined]
    for part in ("--cb_explore_adf", "--squarecb", "--cb_type mtr", "-q SA", "-l 0.25", "--random_seed 9"):
        assert part in args


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("vw_squarecb", {"learning_rate": 0.0}, "learning_rate must be positive"),
        ("vw_squarecb", {"cb_type": "magic"}, "cb_type must be one of"),
        ("vw_squarecb", {"interactions": ("SX",)}, "pairs of the namespaces S and A"),
        ("vw_squarecb", {"gamma_scale": -1.0}, "gamma_scale must be positive"),
        ("vw_epsilon", {"epsilon": 1.5}, r"epsilon must lie in \[0, 1\]"),
        ("vw_epsilon", {"reward_unit": "euros"}, "reward_unit must be one of"),
        ("mab_linucb", {"alpha": 0.0}, "alpha must be positive"),
        ("mab_lints", {"l2_lambda": -1.0}, "l2_lambda must be positive"),
        ("mab_lints", {"nodes_per_cell": 0}, "nodes_per_cell must be at least 1"),
    ],
)
def test_bad_settings_are_refused(name: str, options: dict[str, object], message: str) -> None:
    _needs(name)
    with pytest.raises(ValueError, match=message):
        pp.policies.make(name, LADDER, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- MABWiser
def test_argmax_probabilities_match_the_two_arm_formula_and_sampling() -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(2_000, 2))
    std = rng.uniform(0.1, 1.0, size=(2_000, 1)) * np.exp(rng.uniform(-5, 5, size=(2_000, 2)))  # any ratio
    exact = ndtr((mean[:, 0] - mean[:, 1]) / np.hypot(std[:, 0], std[:, 1]))
    np.testing.assert_allclose(argmax_probabilities(mean, std)[:, 0], exact, atol=1e-4)
    np.testing.assert_allclose(argmax_probabilities(mean, std, nodes_per_cell=4)[:, 0], exact, atol=1e-5)

    mean = np.array([[0.0, 0.1, -0.2, 0.05], [1.0, 0.0, 0.0, 0.0]])
    std = np.array([[1.0, 0.02, 0.5, 0.3], [0.01, 3.0, 0.1, 1.0]])
    draws = rng.normal(mean, std, size=(400_000, *mean.shape)).argmax(axis=2)
    sampled = np.stack([(draws == a).mean(axis=0) for a in range(4)], axis=1)
    np.testing.assert_allclose(argmax_probabilities(mean, std), sampled, atol=3e-3)
    with pytest.raises(ValueError, match="must be positive"):
        argmax_probabilities(mean, np.zeros_like(std))


def test_lints_probabilities_are_those_of_draws_from_mabwisers_posteriors(market: Market) -> None:
    """Drawing each arm's coefficients from MABWiser's fitted N(beta, alpha^2 A^-1) and taking the best
    arm picks the arms with our probabilities."""
    _needs("mab_lints")
    policy = pp.policies.make("mab_lints", market.ladder, seed=3, alpha=1.0)
    _warm(policy, market, rounds=3)
    from pricepilot.policies.features import visit_features

    batch = market.observe(3)
    probs = policy.action_probabilities(batch.context)
    models = policy._mab._imp.arm_to_model  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    for row, x in enumerate(visit_features(batch.context)):
        scores = np.stack(
            [rng.multivariate_normal(models[a].beta, models[a].A_inv, size=40_000) @ x for a in range(9)],
            axis=1,
        )
        freq = np.bincount(scores.argmax(axis=1), minlength=market.n_actions) / scores.shape[0]
        np.testing.assert_allclose(probs[row], freq, atol=0.01)


def test_linucb_is_one_hot_on_mabwisers_prediction(market: Market) -> None:
    _needs("mab_linucb")
    policy = pp.policies.make("mab_linucb", market.ladder, seed=3)
    _warm(policy, market)
    from pricepilot.policies.features import visit_features

    batch = market.observe(100)
    probs = policy.action_probabilities(batch.context)
    np.testing.assert_array_equal(np.sort(probs, axis=1)[:, -1], 1.0)
    predicted = policy._mab.predict(visit_features(batch.context))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(probs.argmax(axis=1), predicted)


@pytest.mark.parametrize("name", MAB)
def test_mab_before_any_update_is_uniform(name: str, market: Market) -> None:
    _needs(name)
    probs = pp.policies.make(name, market.ladder).action_probabilities(market.observe(4).context)
    np.testing.assert_allclose(probs, 1 / 9)


# ---------------------------------------------------------------- persistence and plumbing
@pytest.mark.parametrize("name", VW + MAB)
def test_a_reloaded_peer_keeps_learning_like_the_original(name: str, market: Market, tmp_path: Path) -> None:
    """Saved mid-run and reloaded, the peer then decides and learns exactly as the original does."""
    _needs(name)
    policy = pp.policies.make(name, market.ladder, seed=4)
    _warm(policy, market)
    policy.save(tmp_path / "p")
    again = pp.policies.load(tmp_path / "p")
    for _ in range(3):
        batch = market.observe(300)
        first, second = policy.act(batch.context), again.act(batch.context)
        np.testing.assert_array_equal(first.actions, second.actions)
        np.testing.assert_array_equal(first.propensities, second.propensities)
        outcome = market.step(batch, first)
        policy.update(outcome)
        again.update(outcome)
    batch = market.observe(300)
    np.testing.assert_allclose(
        again.action_probabilities(batch.context), policy.action_probabilities(batch.context), atol=1e-12
    )


@pytest.mark.parametrize("name", VW + MAB)
def test_an_unfitted_peer_saves_and_loads(name: str, market: Market, tmp_path: Path) -> None:
    _needs(name)
    policy = pp.policies.make(name, market.ladder, seed=4)
    policy.save(tmp_path / "p")
    again = pp.policies.load(tmp_path / "p")
    batch = market.observe(50)
    np.testing.assert_array_equal(again.act(batch.context).actions, policy.act(batch.context).actions)


def test_a_missing_library_leaves_the_policy_unregistered_and_explains() -> None:
    @register_if_installed("no_such_library_for_pricepilot")
    class Ghost(PolicyBase):
        name = "ghost_peer"

    assert "ghost_peer" not in pp.policies.available()
    with pytest.raises(ImportError, match=r"pip install 'pricepilot\[peers\]'"):
        require("no_such_library_for_pricepilot", "ghost_peer")


def test_learning_rewards_in_list_prices(market: Market) -> None:
    batch = market.observe(200)
    decision = pp.policies.make("list_price", market.ladder).act(batch.context)
    outcome = market.step(batch, decision)
    np.testing.assert_allclose(
        learning_rewards(outcome, "list_price"), outcome.reward / batch.context.list_prices
    )
    np.testing.assert_array_equal(learning_rewards(outcome, "currency"), outcome.reward)
    with pytest.raises(ValueError, match="reward_unit must be one of"):
        learning_rewards(outcome, "euros")
