"""Day-by-day market dynamics: seasons, category promotions and the competitor's price per item."""

from __future__ import annotations

import numpy as np

from pricepilot.market.config import MarketConfig
from pricepilot.types import BoolArray, FloatArray, IntArray

WEEK_DAYS = 7.0
YEAR_DAYS = 365.0


def season_log_odds(config: MarketConfig, day: FloatArray, year_phase: float) -> FloatArray:
    """Seasonal shift of purchase log-odds at time ``day`` (days since the start, fractional)."""
    weekly = config.weekly_amplitude * np.sin(2 * np.pi * day / WEEK_DAYS)
    yearly = config.yearly_amplitude * np.sin(2 * np.pi * (day + year_phase) / YEAR_DAYS)
    return np.asarray(weekly + yearly, dtype=np.float64)


def competitor_stationary_sd(config: MarketConfig) -> float:
    """Standard deviation of the competitor's log price around its target in the long run."""
    k = config.competitor_reversion
    return float(config.competitor_volatility / np.sqrt(max(1.0 - (1.0 - k) ** 2, 1e-12)))


def promo_stationary_share(config: MarketConfig) -> float:
    """Long-run share of days a category is on promotion."""
    start, stop = config.promo_start_rate, 1.0 / config.promo_days
    return start / (start + stop) if start + stop > 0 else 0.0


class MarketDynamics:
    """Promotions and competitor prices, advanced one day at a time from their own generator.

    The draws for day ``d`` depend only on the seed and on ``d``'s position in the sequence, so two
    runs with the same seed see the same promotions and the same competitor noise whatever the
    policy; only the competitor's reaction to our prices differs (by design).
    """

    def __init__(self, config: MarketConfig, competitor_mean: FloatArray, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        self.competitor_mean = competitor_mean
        n_items = competitor_mean.size
        share = promo_stationary_share(config)
        self.day = 0
        self.promo: BoolArray = rng.random(config.n_categories) < share
        self.competitor: FloatArray = competitor_mean + competitor_stationary_sd(
            config
        ) * rng.standard_normal(n_items)
        self.our_log_price: FloatArray = np.zeros(n_items)
        self._first_day = 0
        self._promo_days: list[BoolArray] = [self.promo.copy()]
        self._competitor_days: list[FloatArray] = [self.competitor.copy()]

    def _advance(self) -> None:
        cfg = self.config
        u = self.rng.random(self.promo.size)
        stops = u < 1.0 / cfg.promo_days
        starts = u < cfg.promo_start_rate
        self.promo = np.where(self.promo, ~stops, starts)
        target = self.competitor_mean + cfg.competitor_reaction * self.our_log_price
        noise = self.rng.standard_normal(self.competitor.size)
        self.competitor = (
            self.competitor
            + cfg.competitor_reversion * (target - self.competitor)
            + cfg.competitor_volatility * noise
        )
        self.day += 1
        self._promo_days.append(self.promo.copy())
        self._competitor_days.append(self.competitor.copy())

    def tables(self, first_day: int, last_day: int) -> tuple[BoolArray, FloatArray]:
        """Promotion (days, n_categories) and competitor log price (days, n_items) for a day range.

        Days before ``first_day`` are forgotten: a batch never looks back past the previous one.
        """
        if first_day < self._first_day:
            raise ValueError(f"day {first_day} was already forgotten (oldest kept: {self._first_day})")
        while self.day < last_day:
            self._advance()
        drop = first_day - self._first_day
        if drop:
            del self._promo_days[:drop]
            del self._competitor_days[:drop]
            self._first_day = first_day
        span = last_day - first_day + 1
        return np.array(self._promo_days[:span]), np.array(self._competitor_days[:span])

    def record_prices(self, items: IntArray, log_factor: FloatArray) -> None:
        """Let the competitor see our latest prices (mean log multiple per item, smoothed)."""
        n_items = self.our_log_price.size
        counts = np.bincount(items, minlength=n_items)
        seen = counts > 0
        if not np.any(seen):
            return
        means = np.bincount(items, weights=log_factor, minlength=n_items)[seen] / counts[seen]
        self.our_log_price[seen] += 0.5 * (means - self.our_log_price[seen])
