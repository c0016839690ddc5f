"""The simulated shop: a vectorised stream of visits, each a visitor looking at one item.

``observe(n)`` draws the next ``n`` visits and returns what a policy may see (a ``ContextBatch``)
together with the hidden truth; ``step(batch, decision)`` draws the visitors' responses to the chosen
prices and advances the dynamics. The oracle (``market.oracle``) reads the hidden truth to give the
exact expected reward of every action.

Common random numbers: the visitors, items and purchase uniforms of visit ``g`` depend only on the seed
and the batch sizes, never on the policy, so policies compared on the same seed meet the same traffic.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pricepilot.market.calibration import load_calibration
from pricepilot.market.config import MarketConfig
from pricepilot.market.demand import PriceResponse, chosen_probability
from pricepilot.market.dynamics import MarketDynamics, season_log_odds
from pricepilot.market.population import (
    Catalog,
    Visitors,
    build_catalog,
    build_visitors,
    calibrated_population,
)
from pricepilot.types import ContextBatch, Decision, FloatArray, IntArray, OutcomeBatch

if TYPE_CHECKING:
    from pricepilot.market.oracle import Oracle

MARKET_FEATURES = (
    "market_week_sin",
    "market_week_cos",
    "market_year_sin",
    "market_year_cos",
    "market_promotion",
    "market_competitor_log_price",
)
_batch_ids = itertools.count(1)


@dataclass(frozen=True)
class VisitTruth:
    """Hidden state of each visit, shape (n,) each: what the oracle knows and the policy does not."""

    visitor_index: IntArray
    item_index: IntArray
    base: FloatArray
    slope: FloatArray
    reference: FloatArray
    uniforms: FloatArray


@dataclass(frozen=True)
class MarketBatch:
    """One batch of visits: the policy's view (``context``) and the truth behind it."""

    context: ContextBatch
    truth: VisitTruth
    batch_id: int


class Market:
    """A simulated shop with known ground truth (see the module docstring).

    Parameters
    ----------
    config : MarketConfig
    seed : int, seeds the catalog, the visitors, the traffic and the dynamics (each its own stream)
    """

    def __init__(self, config: MarketConfig, seed: int = 0) -> None:
        self.config = config
        self.seed = int(seed)
        self.ladder = config.ladder
        self.objective = config.objective_weights
        self.response = PriceResponse(config.coupon_salience, config.gain_seeking, config.loss_aversion)
        self._log_factors = np.log(self.ladder.factors)
        self._coupon = self.ladder.is_coupon.astype(np.float64)
        world, self._traffic_seed, self._dynamics_seed, self._oracle_seed = np.random.SeedSequence(
            self.seed
        ).spawn(4)
        world_rng = np.random.default_rng(world)
        self.catalog: Catalog
        self.visitors: Visitors
        if config.calibration:
            self.catalog, self.visitors = calibrated_population(
                load_calibration(config.calibration), world_rng
            )
        else:
            self.catalog = build_catalog(config, world_rng)
            self.visitors = build_visitors(config, world_rng)
        self.year_phase = float(world_rng.uniform(0, 365))
        self.feature_names = (
            *self.visitors.feature_names,
            *self.catalog.feature_names,
            *MARKET_FEATURES,
            *(("visitor_reference_log_price",) if config.is_dynamic else ()),
        )
        self.reset()

    def reset(self) -> None:
        """Restart traffic and dynamics from the seed (the catalog and visitors stay the same)."""
        self._traffic = np.random.default_rng(self._traffic_seed)
        self.dynamics = MarketDynamics(
            self.config, self.catalog.competitor_mean, np.random.default_rng(self._dynamics_seed)
        )
        self.reference = np.zeros(self.visitors.n_visitors)
        self.visits = 0
        self._pending: int | None = None

    @property
    def n_actions(self) -> int:
        return self.ladder.n_actions

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @functools.cached_property
    def oracle(self) -> Oracle:
        """The clairvoyant oracle of this market (exact expected rewards from the hidden truth)."""
        from pricepilot.market.oracle import Oracle

        return Oracle(self)

    def observe(self, n: int, visitors: IntArray | None = None) -> MarketBatch:
        """Draw the next ``n`` visits (optionally by given visitor indices, shape (n,))."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        cfg, cat = self.config, self.catalog
        rng = self._traffic
        if visitors is None:
            vi = rng.integers(self.visitors.n_visitors, size=n)
        else:
            vi = np.asarray(visitors, dtype=np.int64)
            if vi.shape != (n,) or vi.min() < 0 or vi.max() >= self.visitors.n_visitors:
                raise ValueError(f"visitors must be {n} indices in 0..{self.visitors.n_visitors - 1}")
        items = rng.integers(cat.n_items, size=n)
        uniforms = rng.random(n)

        clock = (self.visits + np.arange(n)) / cfg.visits_per_day
        days = clock.astype(np.int64)
        first = int(days[0])
        promo_tab, comp_tab = self.dynamics.tables(first, int(days[-1]))
        rel_day = days - first
        category = cat.category[items]
        promo = promo_tab[rel_day, category].astype(np.float64)
        competitor = comp_tab[rel_day, items]
        self.visits += n

        base = (
            cfg.base_logit
            + cat.quality[items]
            + self.visitors.taste[vi, category]
            + self.visitors.loyalty[vi]
            + season_log_odds(cfg, clock, self.year_phase)
            + cfg.promo_lift * promo
            + cfg.competitor_weight * competitor
        )
        slope = self.visitors.sensitivity_of(vi, category) + cfg.competitor_weight
        reference = self.reference[vi]

        features = np.empty((n, self.n_features))
        dv = self.visitors.features.shape[1]
        di = cat.features.shape[1]
        np.take(self.visitors.features, vi, axis=0, out=features[:, :dv])
        np.take(cat.features, items, axis=0, out=features[:, dv : dv + di])
        m = dv + di
        week = 2 * np.pi * clock / 7.0
        year = 2 * np.pi * (clock + self.year_phase) / 365.0
        features[:, m] = np.sin(week)
        features[:, m + 1] = np.cos(week)
        features[:, m + 2] = np.sin(year)
        features[:, m + 3] = np.cos(year)
        features[:, m + 4] = promo
        features[:, m + 5] = competitor
        if cfg.is_dynamic:
            features[:, m + 6] = reference

        list_prices = cat.list_price[items]
        costs = cat.unit_cost[items]
        prices = list_prices[:, None] * self.ladder.factors[None, :]
        context = ContextBatch(
            features=features,
            feature_names=self.feature_names,
            ladder=self.ladder,
            prices=prices,
            value_if_bought=self.objective.value_if_bought(prices, costs, list_prices * np.exp(reference)),
            list_prices=list_prices,
            unit_costs=costs,
            item_ids=items,
            visitor_ids=self.visitors.ids[vi],
        )
        truth = VisitTruth(vi, items, base, slope, reference, uniforms)
        batch_id = next(_batch_ids)
        self._pending = batch_id
        return MarketBatch(context, truth, batch_id)

    def step(self, batch: MarketBatch, decision: Decision) -> OutcomeBatch:
        """Draw the visitors' responses to ``decision`` and advance the market's dynamic state."""
        if batch.batch_id != self._pending:
            raise ValueError("step() takes the batch from the latest observe(), once")
        ctx, truth = batch.context, batch.truth
        if decision.n != ctx.n:
            raise ValueError(f"decision has {decision.n} actions for a batch of {ctx.n} visits")
        actions = decision.actions
        if actions.min() < 0 or actions.max() >= self.n_actions:
            raise ValueError(
                f"actions must lie in 0..{self.n_actions - 1}, got {actions.min()}..{actions.max()}"
            )
        self._pending = None
        log_factor = self._log_factors[actions]
        p = chosen_probability(
            truth.base, truth.slope, truth.reference, log_factor, self._coupon[actions], self.response
        )
        purchased = truth.uniforms < p
        rows = np.arange(ctx.n)
        price = ctx.prices[rows, actions]
        revenue = np.where(purchased, price, 0.0)
        profit = np.where(purchased, price - ctx.unit_costs, 0.0)
        reward = np.where(purchased, ctx.value_if_bought[rows, actions], 0.0)

        self.dynamics.record_prices(truth.item_index, log_factor)
        if self.config.is_dynamic:
            lam = self.config.reference_adaptation
            self.reference[truth.visitor_index] = (1 - lam) * truth.reference + lam * log_factor
        return OutcomeBatch(ctx, actions, decision.propensities, purchased, revenue, profit, reward)
