"""Dominick's orange juice in model form: log prices, competitors' price index, promotions, season, stores.

Every demand model of this package reads an :class:`OJData`: one row per store, brand and week, with
the own log price and the competitors' log price index centred on the brand's reference (median) log
price, so that intercepts are log units sold at the reference price and slopes are elasticities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pricepilot.data.datasets import DominicksOJ
from pricepilot.types import BoolArray, FloatArray, IntArray

BRANDS = (
    "Tropicana Premium 64oz",
    "Tropicana Premium 96oz",
    "Florida's Natural 64oz",
    "Tropicana 64oz",
    "Minute Maid 64oz",
    "Minute Maid 96oz",
    "Citrus Hill 64oz",
    "Tree Fresh 64oz",
    "Florida Gold 64oz",
    "Dominicks 64oz",
    "Dominicks 128oz",
)
OUNCES = (64.0, 96.0, 64.0, 64.0, 64.0, 96.0, 64.0, 64.0, 64.0, 64.0, 128.0)
DEMOGRAPHICS = (
    "AGE60",
    "EDUC",
    "ETHNIC",
    "INCOME",
    "HHLARGE",
    "WORKWOM",
    "HVAL150",
    "SSTRDIST",
    "SSTRVOL",
    "CPDIST5",
    "CPWVOL5",
)
WEEKS_PER_YEAR = 52.18
SEASON_NAMES = ("year_sin", "year_cos", "half_year_sin", "half_year_cos", "trend_years")


@dataclass(frozen=True)
class OJData:
    """Dominick's OJ as model inputs. Row arrays have shape (n_rows,).

    Attributes
    ----------
    store, brand : int row arrays, indices into ``store_ids`` and ``BRANDS`` (0-based)
    week : int row array, the data's week number
    log_units : float row array, log units sold (``logmove``)
    log_prices : ndarray of shape (n_rows, n_brands), every brand's log price per ounce in that
        store-week minus that brand's reference log price
    log_price : own log price per ounce minus the brand's reference log price
    log_competitor : mean log price per ounce of the other brands, minus the same mean at their
        reference prices (a summary of the competitors' prices)
    deal, feat : in-store deal (0/1) and feature advertisement (0..1)
    margin : gross margin of the brand as a share of price (``profit`` / 100)
    store_ids : ndarray of shape (n_stores,), the data's store numbers
    demographics : ndarray of shape (n_stores, n_demographics), standardised over stores
    reference_log_price : ndarray of shape (n_brands,), median log price per ounce of each brand
    """

    store: IntArray
    brand: IntArray
    week: IntArray
    log_units: FloatArray
    log_prices: FloatArray
    log_price: FloatArray
    log_competitor: FloatArray
    deal: FloatArray
    feat: FloatArray
    margin: FloatArray
    store_ids: IntArray
    demographics: FloatArray
    reference_log_price: FloatArray

    @property
    def n_rows(self) -> int:
        return int(self.store.size)

    @property
    def n_stores(self) -> int:
        return int(self.store_ids.size)

    @property
    def n_brands(self) -> int:
        return int(self.reference_log_price.size)

    def subset(self, rows: BoolArray) -> OJData:
        """The rows where ``rows`` is True; stores, demographics and reference prices are kept whole."""
        mask = np.asarray(rows, dtype=bool)
        if mask.shape != (self.n_rows,):
            raise ValueError(f"rows must be a boolean mask of shape ({self.n_rows},), got {mask.shape}")
        return OJData(
            self.store[mask],
            self.brand[mask],
            self.week[mask],
            self.log_units[mask],
            self.log_prices[mask],
            self.log_price[mask],
            self.log_competitor[mask],
            self.deal[mask],
            self.feat[mask],
            self.margin[mask],
            self.store_ids,
            self.demographics,
            self.reference_log_price,
        )

    def season(self) -> FloatArray:
        """Yearly and half-yearly harmonics of the week and a linear trend (years from week 100).

        Returns
        -------
        ndarray of shape (n_rows, 5), columns named by ``SEASON_NAMES``
        """
        angle = 2 * np.pi * self.week / WEEKS_PER_YEAR
        return np.column_stack(
            [
                np.sin(angle),
                np.cos(angle),
                np.sin(2 * angle),
                np.cos(2 * angle),
                (self.week - 100.0) / WEEKS_PER_YEAR,
            ]
        )


def _standardise_columns(x: FloatArray) -> FloatArray:
    sd = x.std(axis=0)
    return np.asarray((x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0), dtype=np.float64)


def prepare_oj(data: DominicksOJ) -> OJData:
    """Turn the loaded data set (:func:`pricepilot.data.datasets.load_dominicks_oj`) into model inputs.

    Raises
    ------
    ValueError
        When a column is missing, a brand lies outside 1..11, a price is not positive, or a sales
        row's store has no demographics.
    """
    sales, stores = data.sales, data.stores
    n_brands = len(BRANDS)
    price_cols = [f"price{k}" for k in range(1, n_brands + 1)]
    needed = ["store", "brand", "week", "logmove", "deal", "feat", "profit", *price_cols]
    missing = [c for c in needed if c not in sales.columns]
    missing += [c for c in ("STORE", *DEMOGRAPHICS) if c not in stores.columns]
    if missing:
        raise ValueError(f"Dominick's OJ data lacks column(s) {missing}")
    brand = sales["brand"].to_numpy(dtype=np.int64) - 1
    if brand.min() < 0 or brand.max() >= n_brands:
        raise ValueError(f"brand must lie in 1..{n_brands}, got {brand.min() + 1}..{brand.max() + 1}")
    prices = sales[price_cols].to_numpy(dtype=np.float64)
    if not np.all(prices > 0):
        raise ValueError(f"prices must be > 0; smallest is {float(prices.min())!r}")
    stores = stores.sort_values("STORE").reset_index(drop=True)
    store_ids = stores["STORE"].to_numpy(dtype=np.int64)
    position = pd.Series(np.arange(store_ids.size), index=store_ids)
    store = sales["store"].map(position)
    if store.isna().any():
        unknown = sorted(set(sales.loc[store.isna(), "store"]))
        raise ValueError(f"sales rows name store(s) without demographics: {unknown[:10]}")

    log_prices = np.log(prices)
    rows = np.arange(brand.size)
    own = log_prices[rows, brand]
    # A brand's reference is its median own log price (the median of its price column if it never sells).
    reference = np.array(
        [np.median(own[brand == b] if np.any(brand == b) else log_prices[:, b]) for b in range(n_brands)]
    )
    others = (log_prices.sum(axis=1) - own) / (n_brands - 1)
    others_reference = (reference.sum() - reference[brand]) / (n_brands - 1)
    return OJData(
        store=store.to_numpy(dtype=np.int64),
        brand=brand,
        week=sales["week"].to_numpy(dtype=np.int64),
        log_units=sales["logmove"].to_numpy(dtype=np.float64),
        log_prices=log_prices - reference[None, :],
        log_price=own - reference[brand],
        log_competitor=others - others_reference,
        deal=sales["deal"].to_numpy(dtype=np.float64),
        feat=sales["feat"].to_numpy(dtype=np.float64),
        margin=sales["profit"].to_numpy(dtype=np.float64) / 100.0,
        store_ids=store_ids,
        demographics=_standardise_columns(stores[list(DEMOGRAPHICS)].to_numpy(dtype=np.float64)),
        reference_log_price=reference,
    )


def week_split(data: OJData, holdout_share: float = 0.2) -> tuple[BoolArray, BoolArray]:
    """Split rows by week: the last ``holdout_share`` of the distinct weeks are held out.

    Returns
    -------
    train, test : boolean masks of shape (n_rows,)
    """
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must lie in (0, 1), got {holdout_share!r}")
    weeks = np.unique(data.week)
    if weeks.size < 2:
        raise ValueError(f"need at least 2 distinct weeks to split, got {weeks.size}")
    n_test = min(max(1, round(holdout_share * weeks.size)), weeks.size - 1)
    first_test = weeks[-n_test]
    test = data.week >= first_test
    return ~test, test
