"""The simulated shop's catalog and visitor population: observed features and hidden traits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.market.calibration import Calibration
from pricepilot.market.config import MarketConfig
from pricepilot.types import FloatArray, IntArray

N_AGE_BANDS = 5
N_INCOME_BANDS = 5
N_REGIONS = 4
DEVICES = ("desktop", "mobile", "tablet")


@dataclass(frozen=True)
class Catalog:
    """Items of the shop. All arrays have shape (n_items,) unless said otherwise.

    ``competitor_mean`` is the competitor's long-run log price relative to our list price;
    ``features`` (n_items, d_item) is what policies may see: category one-hot, standardised log list
    price and quality.
    """

    list_price: FloatArray
    unit_cost: FloatArray
    category: IntArray
    quality: FloatArray
    competitor_mean: FloatArray
    features: FloatArray
    feature_names: tuple[str, ...]

    @property
    def n_items(self) -> int:
        return int(self.list_price.size)


@dataclass(frozen=True)
class Visitors:
    """The visitor population. Arrays have shape (n_visitors,) unless said otherwise.

    Observed: ``features`` (n_visitors, d_visitor): age band, income band, region and device one-hots,
    past purchase count and spend (log scale). Hidden: ``sensitivity`` (slope of purchase log-odds in
    log price; shape (n_visitors,), or (n_visitors, n_categories) when it differs by category),
    ``taste`` (n_visitors, n_categories) and ``loyalty`` (log-odds shifts). ``ids`` are pseudonymous
    62-bit identifiers.
    """

    ids: IntArray
    features: FloatArray
    feature_names: tuple[str, ...]
    sensitivity: FloatArray
    taste: FloatArray
    loyalty: FloatArray

    @property
    def n_visitors(self) -> int:
        return int(self.ids.size)

    def sensitivity_of(self, visitor: IntArray, category: IntArray) -> FloatArray:
        """Price sensitivity of each visit, shape (n,), from visitor and item category indices (n,)."""
        s = self.sensitivity
        return s[visitor] if s.ndim == 1 else s[visitor, category]


def _standardise(x: FloatArray) -> FloatArray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def build_catalog(config: MarketConfig, rng: np.random.Generator) -> Catalog:
    """Draw items: log-normal list prices, uniform cost ratios, categories, quality, competitor level."""
    j, c = config.n_items, config.n_categories
    list_price = np.round(config.price_median * np.exp(config.price_spread * rng.standard_normal(j)), 2)
    list_price = np.maximum(list_price, 0.5)
    cost = list_price * rng.uniform(config.cost_ratio_low, config.cost_ratio_high, j)
    category = rng.integers(c, size=j)
    quality = config.quality_scale * rng.standard_normal(j)
    competitor_mean = config.competitor_spread * rng.standard_normal(j)
    log_price = np.log(list_price)
    features = np.column_stack(
        [np.eye(c)[category], _standardise(log_price), quality / max(config.quality_scale, 1e-12)]
    )
    names = (*(f"item_category_{k}" for k in range(c)), "item_log_price_z", "item_quality_z")
    return Catalog(list_price, cost, category.astype(np.int64), quality, competitor_mean, features, names)


def build_visitors(config: MarketConfig, rng: np.random.Generator) -> Visitors:
    """Draw visitors whose observed features explain part of their hidden price sensitivity and taste."""
    v, c = config.n_visitors, config.n_categories
    age = rng.integers(N_AGE_BANDS, size=v)
    income = rng.integers(N_INCOME_BANDS, size=v)
    region = rng.integers(N_REGIONS, size=v)
    device = rng.choice(len(DEVICES), size=v, p=[0.45, 0.45, 0.10])

    # Price sensitivity: richer visitors care less, older and mobile visitors care more, regions differ.
    region_effect = rng.normal(0.0, 0.5, N_REGIONS)
    explained = _standardise(
        -0.8 * (income - 2.0) + 0.35 * (age - 2.0) + 0.6 * (device == 1) + region_effect[region]
    )
    share = config.sensitivity_observed
    log_sens = np.log(config.sensitivity_mean) + config.sensitivity_spread * (
        np.sqrt(share) * explained + np.sqrt(1.0 - share) * rng.standard_normal(v)
    )
    sensitivity = np.exp(log_sens)

    # Taste per category: partly by region and age band, partly individual.
    region_taste = rng.standard_normal((N_REGIONS, c))
    age_taste = rng.standard_normal((N_AGE_BANDS, c))
    taste = config.taste_scale * (
        0.5 * region_taste[region] + 0.4 * age_taste[age] + np.sqrt(0.59) * rng.standard_normal((v, c))
    )

    # Loyalty shows in past purchases and spend.
    loyalty_z = rng.standard_normal(v)
    loyalty = config.loyalty_scale * loyalty_z
    purchases = rng.poisson(np.exp(0.5 + 0.8 * loyalty_z))
    spend = purchases * config.price_median * np.exp(0.5 * rng.standard_normal(v))

    features = np.column_stack(
        [
            age / (N_AGE_BANDS - 1),
            income / (N_INCOME_BANDS - 1),
            np.eye(N_REGIONS)[region],
            np.eye(len(DEVICES))[device],
            np.log1p(purchases) / 3.0,
            np.log1p(spend) / 8.0,
        ]
    )
    names = (
        "visitor_age_band",
        "visitor_income_band",
        *(f"visitor_region_{k}" for k in range(N_REGIONS)),
        *(f"visitor_device_{d}" for d in DEVICES),
        "visitor_log_purchases",
        "visitor_log_spend",
    )
    ids = rng.integers(1, 2**62, size=v, dtype=np.int64)
    return Visitors(ids, features, names, sensitivity, taste, loyalty)


def calibrated_population(calibration: Calibration, rng: np.random.Generator) -> tuple[Catalog, Visitors]:
    """The catalog and visitors of a market fitted to data: one visitor per segment, one category per item.

    Prices, costs, log-odds and price slopes come from ``calibration``; only the visitor ids are drawn.
    Item features are laid out as in :func:`build_catalog` (category one-hot, standardised log list
    price and quality), visitor features are the calibration's segment features.
    """
    j = calibration.n_items
    category = np.arange(j, dtype=np.int64)
    features = np.column_stack(
        [np.eye(j), _standardise(np.log(calibration.list_price)), _standardise(calibration.quality)]
    )
    names = (*(f"item_category_{k}" for k in range(j)), "item_log_price_z", "item_quality_z")
    catalog = Catalog(
        calibration.list_price.copy(),
        calibration.unit_cost.copy(),
        category,
        calibration.quality.copy(),
        np.zeros(j),
        features,
        names,
    )
    s = calibration.n_segments
    visitors = Visitors(
        ids=rng.integers(1, 2**62, size=s, dtype=np.int64),
        features=calibration.segment_features.copy(),
        feature_names=tuple(f"segment_{n}" for n in calibration.segment_feature_names),
        sensitivity=calibration.sensitivity.copy(),
        taste=calibration.taste.copy(),
        loyalty=np.zeros(s),
    )
    return catalog, visitors
