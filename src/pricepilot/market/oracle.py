"""The clairvoyant oracle: exact expected reward of every action for any simulated visit."""

from __future__ import annotations

import functools

import numpy as np

from pricepilot.market.demand import log_odds, purchase_probabilities, sigmoid
from pricepilot.market.dynamics import competitor_stationary_sd, promo_stationary_share, season_log_odds
from pricepilot.market.shop import Market, MarketBatch
from pricepilot.types import FloatArray, IntArray


class Oracle:
    """Knows the hidden truth of a :class:`Market`, so regret computed with it is exact (no sampling)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._log_factors = np.log(market.ladder.factors)
        self._coupon = market.ladder.is_coupon.astype(np.float64)

    def purchase_probabilities(self, batch: MarketBatch) -> FloatArray:
        """P(buy) of every action for every visit of the batch, shape (n, n_actions)."""
        t = batch.truth
        return purchase_probabilities(
            t.base, t.slope, t.reference, self._log_factors, self._coupon, self.market.response
        )

    def expected_rewards(self, batch: MarketBatch) -> FloatArray:
        """Expected reward of every action for every visit, shape (n, n_actions), under the objective."""
        return self.purchase_probabilities(batch) * batch.context.value_if_bought

    def best_actions(self, batch: MarketBatch) -> IntArray:
        """The action with the highest expected reward for each visit, shape (n,)."""
        return np.asarray(np.argmax(self.expected_rewards(batch), axis=1), dtype=np.int64)

    @functools.cache  # noqa: B019  (one oracle per market, cached on the market)
    def long_run_visits(self, n_visits: int = 200_000) -> tuple[FloatArray, FloatArray]:
        """P(buy) and value if bought of every fixed action over visits of the long-run market.

        Draws ``n_visits`` visits: visitors and items uniformly, any day of the year, promotions and
        competitor prices at their stationary distribution (the competitor's level reacting to the
        fixed price), and, in the reference-price market, every visitor's reference settled at that
        price. Returns two arrays of shape (n_visits, n_actions).
        """
        if n_visits < 1:
            raise ValueError(f"n_visits must be at least 1, got {n_visits}")
        m, cfg = self.market, self.market.config
        rng = np.random.default_rng(m._oracle_seed)
        vi = rng.integers(m.visitors.n_visitors, size=n_visits)
        items = rng.integers(m.catalog.n_items, size=n_visits)
        day = rng.uniform(0, 365, n_visits)
        promo = rng.random(n_visits) < promo_stationary_share(cfg)
        z = rng.standard_normal(n_visits)
        category = m.catalog.category[items]
        common = (
            cfg.base_logit
            + m.catalog.quality[items]
            + m.visitors.taste[vi, category]
            + m.visitors.loyalty[vi]
            + season_log_odds(cfg, day, m.year_phase)
            + cfg.promo_lift * promo
            + cfg.competitor_weight * (m.catalog.competitor_mean[items] + competitor_stationary_sd(cfg) * z)
        )
        slope = m.visitors.sensitivity_of(vi, category) + cfg.competitor_weight
        prices = m.ladder.prices(m.catalog.list_price[items])
        list_prices = m.catalog.list_price[items]
        probs = np.empty((n_visits, m.n_actions))
        value = np.empty((n_visits, m.n_actions))
        for a, lf in enumerate(self._log_factors):
            settled = list_prices * np.exp(lf if cfg.is_dynamic else 0.0)
            value[:, a] = m.objective.value_if_bought(
                prices[:, a : a + 1], m.catalog.unit_cost[items], settled
            )[:, 0]
            base = common + cfg.competitor_weight * cfg.competitor_reaction * lf
            reference = np.full(n_visits, lf if cfg.is_dynamic else 0.0)
            probs[:, a] = sigmoid(log_odds(base, slope, reference, lf, self._coupon[a], m.response))
        return probs, value

    def uniform_values(self, n_visits: int = 200_000) -> FloatArray:
        """Long-run expected reward per visit of charging one action to everyone, shape (n_actions,)."""
        probs, value = self.long_run_visits(n_visits)
        return np.asarray(np.mean(probs * value, axis=0), dtype=np.float64)

    def uniform_purchase_probabilities(self, n_visits: int = 200_000) -> FloatArray:
        """Long-run P(buy) per visit when one action is charged to everyone, shape (n_actions,)."""
        probs, _ = self.long_run_visits(n_visits)
        return np.asarray(np.mean(probs, axis=0), dtype=np.float64)

    def best_uniform_action(self) -> int:
        """The single non-personalised price the oracle finds best for the whole population."""
        return int(np.argmax(self.uniform_values()))
