"""One config dataclass for every simulated market, and the named scenario presets built from it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from pricepilot.market.calibration import available_calibrations, calibration_digest, load_calibration
from pricepilot.types import Objective, PriceLadder


@dataclass(frozen=True)
class MarketConfig:
    """Every knob of the simulated shop. Validated when built: a bad value raises naming the field.

    Catalog and visitors
    --------------------
    n_items, n_categories : size of the catalog.
    n_visitors : size of the visitor population (visitors come back, so ids carry information).
    price_median, price_spread : list prices are log-normal with this median (currency) and log sd.
    cost_ratio_low, cost_ratio_high : unit cost as a share of list price, uniform in this range.
    base_logit : purchase log-odds of an average visitor, average item, at list price.
    quality_scale, taste_scale, loyalty_scale : spreads of item quality, visitor taste per category,
        and visitor loyalty on the log-odds scale.
    sensitivity_mean : median price sensitivity (slope of log-odds in log price).
    sensitivity_observed : share of log-sensitivity spread explained by observed features.
    sensitivity_spread : total sd of log-sensitivity across visitors.

    Market dynamics
    ---------------
    visits_per_day : clock speed of the visitor stream.
    weekly_amplitude, yearly_amplitude : seasonal swings of log-odds.
    promo_start_rate, promo_days, promo_lift : a category starts a promotion on a day with this
        probability, runs for ``promo_days`` on average, and lifts log-odds by ``promo_lift``.
    competitor_weight : how strongly the competitor's price relative to ours moves log-odds.
    competitor_spread : sd across items of the competitor's long-run log price relative to list.
    competitor_volatility, competitor_reversion : daily noise and mean reversion of the competitor's
        log price (an Ornstein-Uhlenbeck process per item).
    competitor_reaction : how far the competitor's target follows our own log price for the item.

    Reference prices (the dynamic market; 0 turns it off)
    --------------------------------------------------------
    reference_adaptation : each shown price moves the visitor's reference log price this far.
    loss_aversion, gain_seeking : log-odds per unit of log price above (loss) or below (gain)
        the reference; loss aversion means ``loss_aversion > gain_seeking``.

    Actions and objective
    ---------------------
    ladder_low, ladder_high, ladder_levels : multipliers of list price.
    coupons : percent-off coupons (fractions) offered as extra actions.
    coupon_salience : extra log-odds of a coupon over an equal shelf-price cut.
    objective : ``'profit'``, ``'revenue'``, ``'conversions'`` or a mix (see ``Objective.named``).

    Inventory season (used by the inventory MDP)
    ---------------------------------------------
    inventory_units, selling_periods : starting stock and season length (periods).
    arrival_probability : chance that a visitor arrives in a period.
    salvage_value : value of each unsold unit at the end, as a share of list price.

    Calibrated worlds
    -----------------
    calibration : name of a packaged :class:`~pricepilot.market.calibration.Calibration` (``''``: none).
        When set, the catalog and visitors come from it (one visitor per fitted segment, one category
        per item) instead of random draws, so the fields that shape those draws (prices, costs,
        quality, taste, loyalty, sensitivity) are not used; the sizes must match the calibration.
    """

    name: str = "custom"
    n_items: int = 50
    n_categories: int = 5
    n_visitors: int = 20_000
    price_median: float = 30.0
    price_spread: float = 0.6
    cost_ratio_low: float = 0.45
    cost_ratio_high: float = 0.7
    base_logit: float = -2.2
    quality_scale: float = 0.4
    taste_scale: float = 0.5
    loyalty_scale: float = 0.3
    sensitivity_mean: float = 3.0
    sensitivity_observed: float = 0.7
    sensitivity_spread: float = 0.45
    visits_per_day: int = 5_000
    weekly_amplitude: float = 0.15
    yearly_amplitude: float = 0.25
    promo_start_rate: float = 0.05
    promo_days: float = 4.0
    promo_lift: float = 0.4
    competitor_weight: float = 1.0
    competitor_spread: float = 0.08
    competitor_volatility: float = 0.03
    competitor_reversion: float = 0.1
    competitor_reaction: float = 0.3
    reference_adaptation: float = 0.0
    loss_aversion: float = 0.0
    gain_seeking: float = 0.0
    ladder_low: float = 0.7
    ladder_high: float = 1.3
    ladder_levels: int = 9
    coupons: tuple[float, ...] = ()
    coupon_salience: float = 0.15
    objective: str = "profit"
    inventory_units: int = 0
    selling_periods: int = 0
    arrival_probability: float = 0.5
    salvage_value: float = 0.0
    calibration: str = ""

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"MarketConfig.{name} = {getattr(self, name)!r}: {rule}")

        for name in ("n_items", "n_categories", "n_visitors", "visits_per_day", "ladder_levels"):
            need(
                isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "must be an int >= 1"
            )
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float):
                need(math.isfinite(value), f.name, "must be finite")
        for name in (
            "price_median",
            "price_spread",
            "sensitivity_mean",
            "promo_days",
        ):
            need(getattr(self, name) > 0, name, "must be > 0")
        for name in (
            "quality_scale",
            "taste_scale",
            "loyalty_scale",
            "sensitivity_spread",
            "weekly_amplitude",
            "yearly_amplitude",
            "promo_lift",
            "competitor_weight",
            "competitor_spread",
            "competitor_volatility",
            "loss_aversion",
            "gain_seeking",
            "coupon_salience",
            "salvage_value",
        ):
            need(getattr(self, name) >= 0, name, "must be >= 0")
        need(
            0 < self.cost_ratio_low <= self.cost_ratio_high < 1, "cost_ratio_low", "need 0 < low <= high < 1"
        )
        need(0 <= self.sensitivity_observed <= 1, "sensitivity_observed", "must lie in [0, 1]")
        need(0 <= self.promo_start_rate <= 1, "promo_start_rate", "must lie in [0, 1]")
        need(0 < self.competitor_reversion <= 1, "competitor_reversion", "must lie in (0, 1]")
        need(0 <= self.competitor_reaction <= 1, "competitor_reaction", "must lie in [0, 1]")
        need(0 <= self.reference_adaptation <= 1, "reference_adaptation", "must lie in [0, 1]")
        need(0 < self.arrival_probability <= 1, "arrival_probability", "must lie in (0, 1]")
        need(0 < self.ladder_low <= self.ladder_high, "ladder_low", "need 0 < ladder_low <= ladder_high")
        need(all(0 < c < 1 for c in self.coupons), "coupons", "each coupon must be a fraction in (0, 1)")
        need(self.inventory_units >= 0, "inventory_units", "must be >= 0")
        need(self.selling_periods >= 0, "selling_periods", "must be >= 0")
        try:
            Objective.named(self.objective)
        except ValueError as err:
            raise ValueError(f"MarketConfig.objective = {self.objective!r}: {err}") from None
        if self.calibration:
            try:
                fitted = load_calibration(self.calibration)
            except ValueError as err:
                raise ValueError(f"MarketConfig.calibration = {self.calibration!r}: {err}") from None
            for name, size in (
                ("n_visitors", fitted.n_segments),
                ("n_items", fitted.n_items),
                ("n_categories", fitted.n_items),
            ):
                need(getattr(self, name) == size, name, f"calibration {self.calibration!r} needs {size}")

    @property
    def ladder(self) -> PriceLadder:
        return PriceLadder.linear(self.ladder_low, self.ladder_high, self.ladder_levels, self.coupons)

    @property
    def objective_weights(self) -> Objective:
        return Objective.named(self.objective)

    @property
    def is_dynamic(self) -> bool:
        """True when today's prices change tomorrow's demand (reference prices)."""
        return self.reference_adaptation > 0

    def replace(self, **changes: Any) -> MarketConfig:
        """A copy with some fields changed; unknown field names raise naming the field."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"MarketConfig has no field(s) {unknown}; known fields: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["coupons"] = list(self.coupons)
        if self.calibration:
            # the fitted world's file can be refitted under the same name: record which one ran
            data["calibration_sha256"] = calibration_digest(self.calibration)
        return data


SCENARIOS: dict[str, MarketConfig] = {
    "ecommerce": MarketConfig(name="ecommerce"),
    "ecommerce-revenue": MarketConfig(name="ecommerce-revenue", objective="revenue"),
    "ecommerce-coupons": MarketConfig(name="ecommerce-coupons", coupons=(0.05, 0.1, 0.2)),
    "reference-price": MarketConfig(
        name="reference-price",
        n_visitors=2_000,
        reference_adaptation=0.3,
        loss_aversion=2.5,
        gain_seeking=1.0,
        competitor_reaction=0.0,
    ),
    "inventory-small": MarketConfig(
        name="inventory-small",
        n_items=1,
        n_categories=1,
        ladder_levels=5,
        inventory_units=5,
        selling_periods=20,
        arrival_probability=0.6,
        objective="revenue",
    ),
    "inventory-season": MarketConfig(
        name="inventory-season",
        n_items=1,
        n_categories=1,
        inventory_units=40,
        selling_periods=200,
        arrival_probability=0.5,
        objective="revenue",
    ),
}


def calibrated_scenario(name: str) -> MarketConfig:
    """The scenario of the packaged calibration ``name``: its fitted fields, the rest at their defaults."""
    fields: dict[str, Any] = {"name": name, "calibration": name, **load_calibration(name).config}
    return MarketConfig(**fields)


# Every packaged calibration is a scenario of its own name: ``oj`` is Dominick's orange juice, each store
# a segment and the 11 brands the items (fitted and written by ``pricepilot demand fit``).
SCENARIOS.update({name: calibrated_scenario(name) for name in available_calibrations()})


def scenario(name: str, **changes: Any) -> MarketConfig:
    """The preset called ``name``, with optional field changes."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; available: {sorted(SCENARIOS)}")
    return SCENARIOS[name].replace(**changes) if changes else SCENARIOS[name]
