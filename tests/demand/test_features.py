from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pricepilot.data.datasets import DominicksOJ
from pricepilot.demand import feature_ad_dynamics, prepare_oj, week_split
from tests.demand.conftest import SyntheticOJ


def test_prepare_centres_prices_and_standardises_stores(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    assert data.n_rows == len(synthetic_oj.data.sales)
    assert (data.n_stores, data.n_brands) == (12, 11)
    for b in range(data.n_brands):
        assert np.median(data.log_price[data.brand == b]) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(data.demographics.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.demographics.std(axis=0), 1.0)
    assert data.season().shape == (data.n_rows, 5)
    np.testing.assert_allclose(data.margin, 0.3)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s, d: (s.drop(columns="feat"), d), r"lacks column\(s\) \['feat'\]"),
        (lambda s, d: (s.assign(brand=s.brand + 1), d), r"brand must lie in 1..11, got 2..12"),
        (lambda s, d: (s.assign(price3=0.0), d), r"prices must be > 0; smallest is 0.0"),
        (lambda s, d: (s, d.iloc[1:]), r"store\(s\) without demographics: \[100\]"),
    ],
)
def test_bad_data_is_named(synthetic_oj: SyntheticOJ, change: object, match: str) -> None:
    sales, stores = change(synthetic_oj.data.sales, synthetic_oj.data.stores)  # type: ignore[operator]
    with pytest.raises(ValueError, match=match):
        prepare_oj(DominicksOJ(sales, stores))


def test_week_split_holds_out_the_latest_weeks(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    train, test = week_split(data, 0.2)
    assert not np.any(train & test)
    assert np.all(train | test)
    assert data.week[train].max() < data.week[test].min()
    assert np.unique(data.week[test]).size == 14  # 20% of 70 weeks
    with pytest.raises(ValueError, match=r"holdout_share must lie in \(0, 1\), got 1.0"):
        week_split(data, 1.0)


def test_feature_ad_dynamics_counts_runs(synthetic_oj: SyntheticOJ) -> None:
    data = prepare_oj(synthetic_oj.data)
    feat = np.zeros(data.n_rows)
    first = (data.store == 0) & (data.brand == 0)
    weeks = data.week[first]
    # One run of 3 weeks and one of 1 week in one store and brand, nothing elsewhere.
    idx = np.flatnonzero(first)
    feat[idx[np.isin(weeks, [50, 51, 52, 60])]] = 1.0
    share, run = feature_ad_dynamics(replace(data, feat=feat))
    assert share == pytest.approx(4 / data.n_rows)
    assert run == pytest.approx(2.0)
