"""Fixtures of the demand tests: a synthetic Dominick's-shaped data set with known elasticities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pricepilot.data.datasets import DominicksOJ
from pricepilot.demand import BRANDS, DEMOGRAPHICS
from pricepilot.types import FloatArray

DOMINICKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dominicks_oj"


@dataclass(frozen=True)
class SyntheticOJ:
    """A data set drawn from the store-level model, with the true elasticities (n_stores, n_brands)."""

    data: DominicksOJ
    elasticity: FloatArray
    store_ids: np.ndarray


def make_synthetic_oj(
    n_stores: int = 12, weeks: range = range(40, 110), noise: float = 0.15, seed: int = 0
) -> SyntheticOJ:
    """Draw weekly sales of 11 brands in ``n_stores`` stores from a known log-log model.

    Elasticities: brand base in -3.5..-1.5, plus 0.3 x the store's first demographic, plus a store
    deviation of sd 0.3; competitors' index elasticity 1.0, deal 0.3, feature 0.6.
    """
    rng = np.random.default_rng(seed)
    J = len(BRANDS)
    store_ids = np.arange(100, 100 + n_stores)
    demo = rng.normal(size=(n_stores, len(DEMOGRAPHICS)))
    z0 = (demo[:, 0] - demo[:, 0].mean()) / demo[:, 0].std()
    brand_e = np.linspace(-3.5, -1.5, J)
    elasticity = brand_e[None, :] + 0.3 * z0[:, None] + rng.normal(0.0, 0.3, n_stores)[:, None]
    level = 9.0 + rng.normal(0.0, 0.5, J)[None, :] + rng.normal(0.0, 0.4, (n_stores, J))
    ref = np.log(np.linspace(0.025, 0.05, J))
    rows = []
    for s in range(n_stores):
        for w in weeks:
            log_p = ref + rng.normal(0.0, 0.12, J)
            deal = (rng.random(J) < 0.4).astype(float)
            feat = (rng.random(J) < 0.2).astype(float)
            others = (log_p.sum() - log_p) / (J - 1) - (ref.sum() - ref) / (J - 1)
            logmove = (
                level[s]
                + elasticity[s] * (log_p - ref)
                + 1.0 * others
                + 0.3 * deal
                + 0.6 * feat
                + noise * rng.standard_normal(J)
            )
            for j in range(J):
                row = {"store": store_ids[s], "brand": j + 1, "week": w, "logmove": logmove[j], "constant": 1}
                row.update({f"price{k + 1}": float(np.exp(log_p[k])) for k in range(J)})
                row.update({"deal": int(deal[j]), "feat": feat[j], "profit": 30.0})
                rows.append(row)
    sales = pd.DataFrame(rows)
    stores = pd.DataFrame(demo, columns=list(DEMOGRAPHICS))
    stores.insert(0, "STORE", store_ids)
    return SyntheticOJ(DominicksOJ(sales, stores), elasticity, store_ids)


@pytest.fixture(scope="session")
def synthetic_oj() -> SyntheticOJ:
    return make_synthetic_oj()


@pytest.fixture
def dominicks_path() -> Path:
    """Dominick's OJ beside the repository; the test skips when it is absent."""
    if not (DOMINICKS / "orange_juice_sales.csv.gz").is_file():
        pytest.skip(f"Dominick's OJ not found at {DOMINICKS}")
    return DOMINICKS
