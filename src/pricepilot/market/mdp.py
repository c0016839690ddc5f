"""Finite tabular MDPs with sparse transitions, and their exact solvers as pure functions.

A :class:`TabularMDP` lists, for every state ``s`` and action ``a``, the ``M`` possible next states
``next_states[s, a]`` with probabilities ``probs[s, a]`` and the expected immediate reward
``rewards[s, a]``. Solvers:

- :func:`value_iteration`: Bellman optimality iteration to a sup-norm tolerance;
- :func:`policy_iteration`: exact evaluation and greedy improvement until the policy is stable;
- :func:`evaluate_policy`: the exact value of a deterministic policy (one sparse linear solve);
- :func:`exhaustive_search`: the best of every deterministic policy, for tiny MDPs (a test oracle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pricepilot.types import FloatArray, IntArray

_PROB_TOL = 1e-9
MAX_EXHAUSTIVE_POLICIES = 1_000_000


@dataclass(frozen=True, slots=True)
class TabularMDP:
    """A finite MDP with at most ``M`` successor states per state-action pair.

    Parameters
    ----------
    next_states : ndarray of shape (S, A, M), int64
        Successor state indices in ``0 .. S - 1``; unused slots may repeat any state with probability 0.
    probs : ndarray of shape (S, A, M), float64
        Transition probabilities; each ``probs[s, a]`` is non-negative and sums to 1.
    rewards : ndarray of shape (S, A), float64
        Expected immediate reward of taking action ``a`` in state ``s`` (in the objective's units).
    gamma : float in (0, 1]
        Discount factor. With ``gamma == 1`` the MDP must be episodic: every policy reaches, with
        probability 1, a terminal state (one every action maps to itself with reward 0).
    """

    next_states: IntArray
    probs: FloatArray
    rewards: FloatArray
    gamma: float

    def __post_init__(self) -> None:
        nxt = np.asarray(self.next_states)
        probs = np.asarray(self.probs, dtype=np.float64)
        rewards = np.asarray(self.rewards, dtype=np.float64)
        if nxt.ndim != 3:
            raise ValueError(f"next_states must have shape (S, A, M), got shape {nxt.shape}")
        if nxt.size and not np.issubdtype(nxt.dtype, np.integer):
            raise ValueError(f"next_states must hold integers, got dtype {nxt.dtype}")
        S, A, _ = nxt.shape
        if S == 0 or A == 0:
            raise ValueError(f"an MDP needs at least one state and one action, got shape {nxt.shape}")
        if probs.shape != nxt.shape:
            raise ValueError(f"probs must have the shape of next_states {nxt.shape}, got {probs.shape}")
        if rewards.shape != (S, A):
            raise ValueError(f"rewards must have shape ({S}, {A}), got {rewards.shape}")
        if nxt.min() < 0 or nxt.max() >= S:
            raise ValueError(f"next_states must lie in 0..{S - 1}, got {nxt.min()}..{nxt.max()}")
        if not np.all(np.isfinite(probs)) or probs.min() < 0:
            raise ValueError(f"probs must be finite and >= 0, got minimum {probs.min()}")
        sums = probs.sum(axis=2)
        if not np.allclose(sums, 1.0, rtol=0.0, atol=_PROB_TOL):
            s, a = np.unravel_index(int(np.argmax(np.abs(sums - 1.0))), sums.shape)
            raise ValueError(f"probs[{s}, {a}] sums to {float(sums[s, a])}, not 1")
        if not np.all(np.isfinite(rewards)):
            raise ValueError("rewards must be finite")
        if not (np.isfinite(self.gamma) and 0.0 < self.gamma <= 1.0):
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma!r}")
        object.__setattr__(self, "next_states", nxt.astype(np.int64, copy=False))
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "rewards", rewards)
        object.__setattr__(self, "gamma", float(self.gamma))
        if self.gamma == 1.0:
            trapped = _improper_states(self)
            if trapped.size:
                raise ValueError(
                    f"gamma = 1 needs an episodic MDP, but some policy never terminates from state(s) "
                    f"{trapped[:10].tolist()}: make terminal states absorbing with reward 0, or use gamma < 1"
                )

    @property
    def n_states(self) -> int:
        return int(self.next_states.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.next_states.shape[1])

    def terminal_states(self) -> IntArray:
        """States that every action maps to themselves with probability 1 and reward 0, shape (n,)."""
        stays = (self.probs <= 0) | (self.next_states == np.arange(self.n_states)[:, None, None])
        absorbing = stays.all(axis=(1, 2)) & np.all(self.rewards == 0, axis=1)
        return np.flatnonzero(absorbing).astype(np.int64)


def _improper_states(mdp: TabularMDP) -> IntArray:
    """Non-terminal states from which some stationary policy never reaches a terminal state.

    The largest set ``C`` of non-terminal states in which every state has an action whose successors
    all lie in ``C`` (empty exactly when every policy terminates with probability 1).
    """
    inside = np.ones(mdp.n_states, dtype=bool)
    inside[mdp.terminal_states()] = False
    while True:
        stays = np.any(np.all((mdp.probs <= 0) | inside[mdp.next_states], axis=2), axis=1)
        keep = inside & stays
        if np.array_equal(keep, inside):
            return np.flatnonzero(inside).astype(np.int64)
        inside = keep


def q_values(mdp: TabularMDP, values: FloatArray) -> FloatArray:
    """One Bellman backup: ``Q[s, a] = r[s, a] + gamma * E[V(s')]``, shape (S, A)."""
    expected_next = np.asarray(np.einsum("sam,sam->sa", mdp.probs, values[mdp.next_states]), dtype=np.float64)
    return mdp.rewards + mdp.gamma * expected_next


def value_iteration(
    mdp: TabularMDP, tol: float = 1e-10, max_iter: int = 100_000
) -> tuple[FloatArray, IntArray]:
    """Optimal values and a greedy optimal policy by Bellman optimality iteration from ``V = 0``.

    Stops when the sup-norm change of ``V`` falls below ``tol`` (an episodic MDP with ``gamma == 1``
    converges exactly after at most its longest episode).

    Returns
    -------
    values : ndarray of shape (S,), float64
    policy : ndarray of shape (S,), int64, the lowest-index greedy action per state
    """
    if tol <= 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    values = np.zeros(mdp.n_states)
    delta = np.inf
    for _ in range(max_iter):
        new = q_values(mdp, values).max(axis=1)
        delta = float(np.max(np.abs(new - values)))
        values = new
        if delta < tol:
            return values, np.argmax(q_values(mdp, values), axis=1).astype(np.int64)
    raise RuntimeError(
        f"value iteration did not converge in {max_iter} iterations (last change {delta:.3g} >= tol {tol}); "
        "raise max_iter or tol"
    )


def _check_policy(mdp: TabularMDP, policy: IntArray) -> IntArray:
    pol = np.asarray(policy)
    if pol.shape != (mdp.n_states,) or (pol.size and not np.issubdtype(pol.dtype, np.integer)):
        raise ValueError(f"policy must be {mdp.n_states} integer actions, got shape {pol.shape}, {pol.dtype}")
    if pol.min() < 0 or pol.max() >= mdp.n_actions:
        raise ValueError(f"policy actions must lie in 0..{mdp.n_actions - 1}, got {pol.min()}..{pol.max()}")
    return pol.astype(np.int64, copy=False)


def evaluate_policy(mdp: TabularMDP, policy: IntArray) -> FloatArray:
    """Exact value of a deterministic policy: solves ``(I - gamma P_pi) V = r_pi`` (sparse).

    Parameters
    ----------
    policy : ndarray of shape (S,), int, the action taken in each state

    Returns
    -------
    ndarray of shape (S,), float64, the expected (discounted) return from each state
    """
    pol = _check_policy(mdp, policy)
    S = mdp.n_states
    rows = np.arange(S)
    nxt, p = mdp.next_states[rows, pol], mdp.probs[rows, pol]
    r = mdp.rewards[rows, pol].copy()
    system = sp.identity(S, format="csr") - mdp.gamma * sp.csr_matrix(
        (p.ravel(), (np.repeat(rows, nxt.shape[1]), nxt.ravel())), shape=(S, S)
    )
    if mdp.gamma == 1.0:
        # Terminal rows read 0 = 0; pin their value to 0 instead (validation rules out other cycles).
        fixed = np.zeros(S, dtype=bool)
        fixed[mdp.terminal_states()] = True
        system = sp.diags((~fixed).astype(np.float64)) @ system + sp.diags(fixed.astype(np.float64))
        r[fixed] = 0.0
    values = np.asarray(spla.spsolve(system.tocsc(), r), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise RuntimeError("policy evaluation failed: the linear system is singular")
    return values


def policy_iteration(mdp: TabularMDP, max_iter: int = 10_000) -> tuple[FloatArray, IntArray]:
    """Optimal values and policy by Howard's policy iteration, starting from action 0 everywhere.

    Keeps the current action unless another is better by more than 1e-12 (so ties cannot cycle).

    Returns
    -------
    values : ndarray of shape (S,), float64
    policy : ndarray of shape (S,), int64
    """
    rows = np.arange(mdp.n_states)
    policy = np.zeros(mdp.n_states, dtype=np.int64)
    for _ in range(max_iter):
        values = evaluate_policy(mdp, policy)
        q = q_values(mdp, values)
        greedy = np.argmax(q, axis=1)
        improve = q[rows, greedy] > q[rows, policy] + 1e-12 * np.maximum(1.0, np.abs(q[rows, policy]))
        if not improve.any():
            return values, policy
        policy = np.where(improve, greedy, policy).astype(np.int64)
    raise RuntimeError(f"policy iteration did not converge in {max_iter} iterations")


def exhaustive_search(
    mdp: TabularMDP, start: int | None = None, states_to_search: Sequence[int] | IntArray | None = None
) -> tuple[FloatArray, IntArray]:
    """The best of all deterministic policies, by evaluating each exactly (only for tiny MDPs).

    Parameters
    ----------
    start : int, optional
        Maximise the value of this state; by default maximise the sum of values over all states (the
        optimal policy dominates every other at every state, so both criteria agree on the optimum).
    states_to_search : sequence of int, optional
        States whose action is enumerated; every other state takes action 0 (pass the states where the
        choice matters). Default: all states.

    Returns
    -------
    values : ndarray of shape (S,), the exact value of the best policy
    policy : ndarray of shape (S,), int64

    Raises
    ------
    ValueError
        If ``A ** len(states_to_search)`` exceeds 1,000,000 policies.
    """
    S, A = mdp.n_states, mdp.n_actions
    searched = (
        np.arange(S) if states_to_search is None else np.unique(np.asarray(states_to_search, dtype=np.int64))
    )
    if searched.size and (searched.min() < 0 or searched.max() >= S):
        raise ValueError(f"states_to_search must lie in 0..{S - 1}, got {searched.min()}..{searched.max()}")
    if start is not None and not 0 <= start < S:
        raise ValueError(f"start must lie in 0..{S - 1}, got {start}")
    n_policies = float(A) ** searched.size
    if n_policies > MAX_EXHAUSTIVE_POLICIES:
        raise ValueError(
            f"exhaustive search over {searched.size} states with {A} actions means {n_policies:.3g} policies "
            f"(limit {MAX_EXHAUSTIVE_POLICIES:,}); search fewer states or use value_iteration"
        )
    best_score, best_values, best_policy = -np.inf, np.zeros(S), np.zeros(S, dtype=np.int64)
    policy = np.zeros(S, dtype=np.int64)
    for choice in np.ndindex(*([A] * searched.size)):
        policy[searched] = choice
        values = evaluate_policy(mdp, policy)
        score = float(values[start]) if start is not None else float(values.sum())
        if score > best_score:
            best_score, best_values, best_policy = score, values, policy.copy()
    return best_values, best_policy
