"""Logged traffic from the simulator: run a policy, keep what a production log would keep, plus the truth."""

from __future__ import annotations

from typing import Protocol

from pricepilot.data.logged import LoggedData
from pricepilot.market import Market
from pricepilot.types import ContextBatch, Decision, OutcomeBatch


class LoggingPolicy(Protocol):
    """What logging needs of a policy (every PricePilot policy has it)."""

    def act(self, contexts: ContextBatch) -> Decision:
        """Choose, recording each choice's propensity."""
        ...

    def update(self, outcomes: OutcomeBatch) -> None:
        """Learn from what followed."""
        ...


def log_traffic(
    market: Market, policy: LoggingPolicy, visits: int, batch_size: int = 1_000, learn: bool = True
) -> LoggedData:
    """Serve ``visits`` visits of ``market`` with ``policy`` and return the log of what happened.

    The log holds what a production system logs (features, action, its propensity, reward, purchase,
    prices) and, because this is a simulator, every action's true expected reward from the market's
    oracle, so estimates made from the log can be checked against the truth.

    Parameters
    ----------
    market : Market, seeded; the traffic continues from its current state (``market.reset()`` restarts)
    policy : the logging policy; it must log exact propensities (every PricePilot policy does)
    visits : number of visits to log
    batch_size : visits per decision call
    learn : whether the policy updates on what follows its decisions (a learning logging policy is
        fine for off-policy evaluation: each round's propensity is the one in force at that round)

    Returns
    -------
    LoggedData with ``expected_rewards`` of shape (visits, n_actions).
    """
    if visits < 1:
        raise ValueError(f"visits must be at least 1, got {visits}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    parts: list[LoggedData] = []
    done = 0
    objective = market.config.objective
    while done < visits:
        batch = market.observe(min(batch_size, visits - done))
        decision = policy.act(batch.context)
        outcome = market.step(batch, decision)
        if learn:
            policy.update(outcome)
        truth = market.oracle.expected_rewards(batch)
        parts.append(LoggedData.from_outcomes(outcome, expected_rewards=truth, objective=objective))
        done += batch.context.n
    return parts[0] if len(parts) == 1 else LoggedData.concat(parts)
