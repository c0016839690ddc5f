"""Tests of the tabular MDP record and its exact solvers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pricepilot.market.config import scenario
from pricepilot.market.inventory import InventorySeason
from pricepilot.market.mdp import (
    TabularMDP,
    evaluate_policy,
    exhaustive_search,
    policy_iteration,
    q_values,
    value_iteration,
)


def chain(gamma: float = 0.9) -> TabularMDP:
    """Two states, two actions: action 1 in state 0 moves to the rewarding state 1."""
    next_states = np.array([[[0, 0], [1, 0]], [[1, 1], [0, 0]]])
    probs = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]]])
    rewards = np.array([[0.0, 0.0], [1.0, 0.0]])
    return TabularMDP(next_states, probs, rewards, gamma)


@pytest.fixture(scope="module")
def tiny_season() -> InventorySeason:
    # Cheap ladder and a visitor every period, so stock is scarce and the best price depends on the state.
    config = scenario("inventory-small").replace(
        ladder_levels=3,
        ladder_low=0.3,
        ladder_high=0.9,
        inventory_units=2,
        selling_periods=3,
        arrival_probability=1.0,
        salvage_value=0.1,
    )
    return InventorySeason(config, seed=0, n_visits=20_000)


def test_discounted_chain_matches_closed_form() -> None:
    values, policy = value_iteration(chain(0.9))
    # Stay in state 1 forever: 1 / (1 - 0.9); reach it from state 0 in one step.
    np.testing.assert_allclose(values, [9.0, 10.0], atol=1e-8)
    assert policy.tolist() == [1, 0]
    np.testing.assert_allclose(evaluate_policy(chain(0.9), policy), [9.0, 10.0], atol=1e-10)


def test_policy_iteration_agrees_with_value_iteration(tiny_season: InventorySeason) -> None:
    mdp = tiny_season.to_mdp()
    vi_values, _ = value_iteration(mdp)
    pi_values, pi_policy = policy_iteration(mdp)
    np.testing.assert_allclose(pi_values, vi_values, atol=1e-9)
    np.testing.assert_allclose(evaluate_policy(mdp, pi_policy), vi_values, atol=1e-9)


def test_value_iteration_equals_exhaustive_search(tiny_season: InventorySeason) -> None:
    season = tiny_season
    mdp = season.to_mdp()
    vi_values, vi_policy = value_iteration(mdp)
    live = [season.state_index(u, t) for u in range(1, 3) for t in range(1, 4)]
    start = season.state_index(2, 3)
    best_values, _ = exhaustive_search(mdp, start=start, states_to_search=live)
    assert best_values[start] == pytest.approx(vi_values[start], abs=1e-9)
    np.testing.assert_allclose(evaluate_policy(mdp, vi_policy), vi_values, atol=1e-9)
    # The optimum dominates every policy at every state, so maximising the sum of values finds it too.
    sum_values, sum_policy = exhaustive_search(mdp, states_to_search=live)
    np.testing.assert_allclose(sum_values, vi_values, atol=1e-9)
    np.testing.assert_array_equal(sum_policy[live], vi_policy[live])
    assert len(set(vi_policy[live].tolist())) > 1  # the choice really matters


def test_q_values_is_one_bellman_backup() -> None:
    mdp = chain(0.5)
    q = q_values(mdp, np.array([2.0, 4.0]))
    np.testing.assert_allclose(q, [[1.0, 2.0], [3.0, 1.0]])


def test_value_iteration_reports_non_convergence() -> None:
    with pytest.raises(RuntimeError, match="did not converge in 3 iterations"):
        value_iteration(chain(0.99), max_iter=3)


def test_exhaustive_search_refuses_large_problems() -> None:
    mdp = TabularMDP(np.zeros((30, 2, 1), dtype=np.int64), np.ones((30, 2, 1)), np.zeros((30, 2)), gamma=0.9)
    with pytest.raises(ValueError, match="policies"):
        exhaustive_search(mdp)


def _good() -> dict[str, Any]:
    return {
        "next_states": np.array([[[0, 1]], [[1, 1]]]),
        "probs": np.array([[[0.5, 0.5]], [[1.0, 0.0]]]),
        "rewards": np.array([[1.0], [0.0]]),
        "gamma": 0.9,
    }


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("next_states", np.array([[0, 1], [1, 1]]), r"next_states must have shape \(S, A, M\)"),
        ("next_states", np.array([[[0.0, 1.0]], [[1.0, 1.0]]]), "next_states must hold integers"),
        ("next_states", np.array([[[0, 2]], [[1, 1]]]), r"next_states must lie in 0\.\.1"),
        ("probs", np.array([[[0.5, 0.5]]]), "probs must have the shape"),
        ("probs", np.array([[[1.5, -0.5]], [[1.0, 0.0]]]), "probs must be finite and >= 0"),
        ("probs", np.array([[[0.5, 0.4]], [[1.0, 0.0]]]), r"probs\[0, 0\] sums to 0\.9"),
        ("rewards", np.array([1.0, 0.0]), r"rewards must have shape \(2, 1\)"),
        ("rewards", np.array([[np.nan], [0.0]]), "rewards must be finite"),
        ("gamma", 0.0, r"gamma must lie in \(0, 1\]"),
        ("gamma", 1.5, r"gamma must lie in \(0, 1\]"),
    ],
)
def test_bad_mdp_raises(field: str, value: Any, match: str) -> None:
    kwargs = _good() | {field: value}
    with pytest.raises(ValueError, match=match):
        TabularMDP(**kwargs)


def test_undiscounted_mdp_must_be_episodic() -> None:
    with pytest.raises(ValueError, match=r"gamma = 1 needs an episodic MDP.*\[0, 1\]"):
        TabularMDP(**(_good() | {"gamma": 1.0, "rewards": np.array([[1.0], [1.0]])}))
    # A policy that can cycle between two states forever is also refused.
    with pytest.raises(ValueError, match="never terminates"):
        TabularMDP(**_cycle(), gamma=1.0)
    episodic = TabularMDP(**(_good() | {"gamma": 1.0}))
    np.testing.assert_allclose(value_iteration(episodic)[0], [2.0, 0.0])
    np.testing.assert_allclose(evaluate_policy(episodic, np.array([0, 0])), [2.0, 0.0])


def _cycle() -> dict[str, Any]:
    # State 2 is terminal; action 0 swaps states 0 and 1, action 1 ends the episode.
    next_states = np.array([[[1], [2]], [[0], [2]], [[2], [2]]])
    return {"next_states": next_states, "probs": np.ones((3, 2, 1)), "rewards": np.zeros((3, 2))}


def test_bad_policy_raises() -> None:
    with pytest.raises(ValueError, match=r"policy actions must lie in 0\.\.1"):
        evaluate_policy(chain(), np.array([0, 2]))
    with pytest.raises(ValueError, match="policy must be 2 integer actions"):
        evaluate_policy(chain(), np.array([0]))
