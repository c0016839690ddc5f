"""Gymnasium environments over the simulated markets, registered under ``pricepilot/...`` ids.

- ``pricepilot/Ecommerce-v0`` (:class:`EcommerceEnv`): each step is one visit of the shop; the action is
  the ladder index of the price shown; the reward is the realised objective value.
- ``pricepilot/ReferencePrice-v0`` (:class:`ReferencePriceEnv`): one visitor comes back again and
  again; the prices shown move their reference price, so today's price changes tomorrow's demand.
- ``pricepilot/InventorySeason-v0`` (:class:`InventorySeasonEnv`): sell limited stock before a deadline.

>>> import gymnasium as gym, pricepilot.market
>>> env = gym.make("pricepilot/InventorySeason-v0")
"""

from __future__ import annotations

from typing import Any, SupportsInt

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from pricepilot.market.config import scenario as scenario_config
from pricepilot.market.inventory import InventorySeason
from pricepilot.market.shop import Market, MarketBatch
from pricepilot.types import ContextBatch, Decision, IntArray

Observation = NDArray[np.float32]
OBS_BOUND = 10.0
"""Market observations are clipped to ``[-OBS_BOUND, OBS_BOUND]`` (features are of order 1)."""

ENV_IDS: dict[str, str] = {
    "pricepilot/Ecommerce-v0": "pricepilot.market.envs:EcommerceEnv",
    "pricepilot/ReferencePrice-v0": "pricepilot.market.envs:ReferencePriceEnv",
    "pricepilot/InventorySeason-v0": "pricepilot.market.envs:InventorySeasonEnv",
}


def register_envs() -> None:
    """Register every PricePilot environment with Gymnasium; calling it again changes nothing."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)


def visit_observation(context: ContextBatch) -> Observation:
    """Observation of the first visit of ``context``: its features, then ``value_if_bought / list price``.

    Returns an array of shape (n_features + n_actions,), float32, clipped to ``[-OBS_BOUND, OBS_BOUND]``.
    """
    return np.asarray(context.observations(OBS_BOUND)[0], dtype=np.float32)


class EcommerceEnv(gym.Env[Observation, np.int64]):
    """One visit of a simulated shop per step.

    Parameters
    ----------
    scenario : str
        Scenario preset (see ``pricepilot.market.available()``).
    horizon : int
        Steps (visits) per episode; the episode is truncated after it.
    **config_changes
        Fields of the :class:`MarketConfig` to change.

    Observation: shape (n_features + n_actions,), float32, clipped to ``[-OBS_BOUND, OBS_BOUND]``: the
    visit's context features, then each action's value if bought divided by the item's list price (for
    profit, ``factor - unit_cost / list_price``), so a learner sees what a sale is worth at each price,
    as the contextual bandits do through ``ContextBatch.value_if_bought``. Action: ladder index in
    ``0 .. n_actions - 1``. Reward: the realised objective value of the visit (0 without a purchase), in
    currency for revenue and profit. Every ``reset`` rebuilds the market (catalog, visitors, traffic)
    from a seed drawn from ``np_random``.
    """

    metadata = {"render_modes": []}  # noqa: RUF012  (Gymnasium declares it an instance attribute)

    def __init__(self, scenario: str = "ecommerce", horizon: int = 1000, **config_changes: Any) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 step, got {horizon}")
        self.config = scenario_config(scenario, **config_changes)
        self.horizon = int(horizon)
        self.market = Market(self.config, seed=0)
        n_obs = self.market.n_features + self.market.n_actions
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (n_obs,), np.float32)
        self.action_space = spaces.Discrete(self.market.n_actions)
        self._visitor: IntArray | None = None
        self._batch: MarketBatch | None = None
        self._t = 0

    @property
    def current_batch(self) -> MarketBatch:
        """The visit being shown (context and hidden truth), read-only: for benchmarks and bandits."""
        if self._batch is None:
            raise RuntimeError("call reset() before reading current_batch")
        return self._batch

    def _observe(self) -> Observation:
        self._batch = self.market.observe(1, visitors=self._visitor)
        return visit_observation(self._batch.context)

    def _start_episode(self) -> None:
        """Hook run after the market is rebuilt at ``reset`` (subclasses pick a visitor here)."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        super().reset(seed=seed)
        self.market = Market(self.config, seed=int(self.np_random.integers(2**31)))
        self._t = 0
        self._start_episode()
        return self._observe(), {}

    def step(self, action: SupportsInt) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        if self._batch is None:
            raise RuntimeError("call reset() before step()")
        a = int(action)
        if not 0 <= a < self.market.n_actions:
            raise ValueError(f"action {action} is outside the ladder (0..{self.market.n_actions - 1})")
        context = self._batch.context
        decision = Decision(np.array([a]), np.ones(1), context.prices[0, [a]], policy="gymnasium")
        outcome = self.market.step(self._batch, decision)
        self._t += 1
        info = {"purchased": bool(outcome.purchased[0]), "price": float(decision.prices[0])}
        return self._observe(), float(outcome.reward[0]), False, self._t >= self.horizon, info


class ReferencePriceEnv(EcommerceEnv):
    """One visitor, drawn at ``reset``, returns each step; their reference price is the dynamic state.

    Each price shown moves the visitor's reference log price toward it (``reference_adaptation``), and
    prices above the reference hurt more than equal savings help (``loss_aversion > gain_seeking``).
    The observation is the visit's features, whose last entry is the visitor's reference log price,
    then each action's value if bought over the list price (see :class:`EcommerceEnv`).

    Parameters
    ----------
    scenario : str
        A scenario with reference prices (``reference_adaptation > 0``).
    horizon : int
        Visits per episode.
    **config_changes
        Fields of the :class:`MarketConfig` to change.
    """

    def __init__(self, scenario: str = "reference-price", horizon: int = 100, **config_changes: Any) -> None:
        super().__init__(scenario, horizon, **config_changes)
        if not self.config.is_dynamic:
            raise ValueError(
                f"scenario {scenario!r} has no reference-price dynamics (reference_adaptation = 0); "
                "use 'reference-price' or set reference_adaptation > 0"
            )

    def _start_episode(self) -> None:
        self._visitor = np.array([self.np_random.integers(self.market.visitors.n_visitors)], dtype=np.int64)


class InventorySeasonEnv(gym.Env[Observation, np.int64]):
    """Sell a limited stock of one item before the season ends (see :class:`InventorySeason`).

    Parameters
    ----------
    scenario : str
        An inventory preset (``'inventory-small'``, ``'inventory-season'``).
    market_seed : int
        Seeds the item and visitors, hence the purchase probabilities; fixed across episodes, so the
        MDP is the same every episode (``env.unwrapped.season.solve()`` gives its optimum).
    **config_changes
        Fields of the :class:`MarketConfig` to change.

    Observation: ``[units_left / units, periods_left / periods]``, float32 in [0, 1]. Action: ladder
    index. Reward: objective value of a sale, plus the salvage of unsold units in the last period.
    The episode terminates when the season ends or the stock runs out.
    """

    metadata = {"render_modes": []}  # noqa: RUF012  (Gymnasium declares it an instance attribute)

    def __init__(
        self, scenario: str = "inventory-small", market_seed: int = 0, **config_changes: Any
    ) -> None:
        self.season = InventorySeason(scenario_config(scenario, **config_changes), seed=market_seed)
        self.observation_space = spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(self.season.n_actions)
        self.units_left = self.season.units
        self.periods_left = self.season.periods

    def _obs(self) -> Observation:
        return np.array(
            [self.units_left / self.season.units, self.periods_left / self.season.periods], dtype=np.float32
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        super().reset(seed=seed)
        self.units_left, self.periods_left = self.season.units, self.season.periods
        return self._obs(), {}

    def step(self, action: SupportsInt) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        if self.units_left == 0 or self.periods_left == 0:
            raise RuntimeError("the season is over: call reset() before step()")
        out = self.season.step_rng(self.units_left, self.periods_left, int(action), self.np_random)
        self.units_left, self.periods_left = out.units_left, out.periods_left
        terminated = self.units_left == 0 or self.periods_left == 0
        return self._obs(), out.reward, terminated, False, {"sold": out.sold}
