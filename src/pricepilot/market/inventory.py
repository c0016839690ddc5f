"""The finite-inventory selling season: one item, limited stock, a deadline; an exact tabular MDP.

The shop holds ``U`` units of one item for ``T`` periods. In each period a visitor arrives with
probability ``arrival_probability`` and, if units remain, buys at the chosen ladder price with the
long-run purchase probability of that price in the simulated market. When the season ends every unsold
unit earns the salvage value. The state is ``(units_left, periods_left)``; the optimal policy raises
the price when stock is scarce relative to the time left (the classic dynamic-pricing result).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pricepilot.market.config import MarketConfig
from pricepilot.market.mdp import TabularMDP, value_iteration
from pricepilot.market.shop import Market
from pricepilot.types import FloatArray, IntArray


class SeasonStep(NamedTuple):
    """One sampled period: the new state, the reward earned (sale plus any salvage) and whether it sold."""

    units_left: int
    periods_left: int
    reward: float
    sold: bool


class InventorySeason:
    """The selling season of a one-item :class:`MarketConfig` (presets ``inventory-small``, ``-season``).

    Parameters
    ----------
    config : MarketConfig
        Needs ``n_items == 1``, ``inventory_units >= 1`` and ``selling_periods >= 1``.
    seed : int
        Seeds the market: the item, the visitors and the oracle's long-run purchase probabilities.
    n_visits : int
        Visits averaged to estimate each action's purchase probability.

    Attributes
    ----------
    prices : ndarray of shape (K,), price of each ladder action, in the item's currency
    buy_probability : ndarray of shape (K,), P(an arriving visitor buys) at each action
    sale_value : ndarray of shape (K,), objective value of one sale at each action
        (revenue: the price; profit: price minus unit cost; conversions: 1)
    salvage : float, value of each unit unsold at the end (``salvage_value`` times the list price)
    units, periods : int, starting stock and season length
    """

    def __init__(self, config: MarketConfig, seed: int = 0, n_visits: int = 200_000) -> None:
        if config.n_items != 1:
            raise ValueError(f"an inventory season sells one item, got n_items = {config.n_items}")
        for name in ("inventory_units", "selling_periods"):
            if getattr(config, name) < 1:
                raise ValueError(
                    f"MarketConfig.{name} = {getattr(config, name)}: an inventory season needs >= 1 "
                    "(use the 'inventory-small' or 'inventory-season' preset)"
                )
        self.config = config
        self.seed = int(seed)
        self.market = Market(config, seed=self.seed)
        self.ladder = self.market.ladder
        self.units = config.inventory_units
        self.periods = config.selling_periods
        self.arrival_probability = config.arrival_probability
        list_price = self.market.catalog.list_price[:1]
        self.prices: FloatArray = self.ladder.prices(list_price)[0]
        self.sale_value: FloatArray = self.market.objective.value_if_bought(
            self.prices[None, :], self.market.catalog.unit_cost[:1], list_price
        )[0]
        self.buy_probability: FloatArray = self.market.oracle.uniform_purchase_probabilities(n_visits)
        self.salvage = float(config.salvage_value * list_price[0])

    @property
    def n_actions(self) -> int:
        return self.ladder.n_actions

    @property
    def n_states(self) -> int:
        """States of :meth:`to_mdp`: every ``(units_left, periods_left)`` plus one terminal state."""
        return (self.periods + 1) * (self.units + 1) + 1

    @property
    def terminal_state(self) -> int:
        return self.n_states - 1

    def state_index(self, units: int, periods: int) -> int:
        """Flat index of ``(units_left, periods_left)``: ``periods * (units + 1) + units``."""
        if not (0 <= units <= self.units and 0 <= periods <= self.periods):
            raise ValueError(
                f"state (units={units}, periods={periods}) is outside 0..{self.units} x 0..{self.periods}"
            )
        return periods * (self.units + 1) + units

    def to_mdp(self) -> TabularMDP:
        """The season as an episodic :class:`TabularMDP` (``gamma = 1``).

        A live state (units and periods left) moves to ``(u - 1, t - 1)`` on a sale (probability
        ``arrival * buy_probability[a]``, reward ``sale_value[a]``) and to ``(u, t - 1)`` otherwise. A
        state with no periods left pays ``u * salvage`` and moves to the terminal state; one with no
        units left moves there with reward 0. Expected rewards are folded into ``rewards``.
        """
        U, T, K = self.units, self.periods, self.n_actions
        grid_u, grid_t = np.meshgrid(np.arange(U + 1), np.arange(T + 1))  # (T + 1, U + 1): [periods, units]
        u, t = grid_u.ravel(), grid_t.ravel()
        live = (u > 0) & (t > 0)
        sell = self.arrival_probability * self.buy_probability  # (K,)
        end = self.terminal_state
        next_states = np.full((self.n_states, K, 2), end, dtype=np.int64)
        probs = np.zeros((self.n_states, K, 2))
        probs[:, :, 0] = 1.0
        rewards = np.zeros((self.n_states, K))
        idx = np.flatnonzero(live)
        next_states[idx, :, 0] = ((t[idx] - 1) * (U + 1) + u[idx] - 1)[:, None]
        next_states[idx, :, 1] = ((t[idx] - 1) * (U + 1) + u[idx])[:, None]
        probs[idx, :, 0] = sell
        probs[idx, :, 1] = 1.0 - sell
        rewards[idx] = sell * self.sale_value
        over = np.flatnonzero(t == 0)  # season over: salvage the units left
        rewards[over] = (u[over] * self.salvage)[:, None]
        return TabularMDP(next_states, probs, rewards, gamma=1.0)

    def solve(self) -> tuple[FloatArray, IntArray]:
        """Optimal expected value-to-go and policy by value iteration.

        Returns
        -------
        values : ndarray of shape (periods + 1, units + 1)
            ``values[t, u]``: optimal expected objective value (sales plus salvage) with ``u`` units and
            ``t`` periods left.
        policy : ndarray of shape (periods + 1, units + 1), int64
            Optimal ladder action in each state (0, meaningless, where ``u == 0`` or ``t == 0``).
        """
        values, policy = value_iteration(self.to_mdp())
        shape = (self.periods + 1, self.units + 1)
        return values[:-1].reshape(shape), policy[:-1].reshape(shape)

    def step_rng(self, units: int, periods: int, action: int, rng: np.random.Generator) -> SeasonStep:
        """Sample one period from a live state, drawing from ``rng`` (two uniforms every call).

        The returned reward includes the salvage of the remaining units when the season ends.
        """
        if not (1 <= units <= self.units and 1 <= periods <= self.periods):
            raise ValueError(
                f"state (units={units}, periods={periods}) is not live: need 1..{self.units} units "
                f"and 1..{self.periods} periods left"
            )
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action {action} is outside the ladder (0..{self.n_actions - 1})")
        arrive, buy = rng.random(2)
        sold = bool(arrive < self.arrival_probability and buy < self.buy_probability[action])
        reward = float(self.sale_value[action]) if sold else 0.0
        units, periods = units - int(sold), periods - 1
        if periods == 0:
            reward += units * self.salvage
        return SeasonStep(units, periods, reward, sold)
