from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pricepilot.data import LoggedData, LogValidationError
from pricepilot.types import PriceLadder


def _columns(n: int = 5, k: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "features": rng.standard_normal((n, 2)),
        "actions": np.arange(n) % k,
        "propensities": np.full(n, 1.0 / k),
        "rewards": rng.random(n),
        "n_actions": k,
        "feature_names": ("age", "tenure"),
    }


def test_valid_log_is_typed() -> None:
    logged = LoggedData(**_columns())
    assert logged.n == 5
    assert logged.actions.dtype == np.int64
    assert logged.n_positions == 1
    assert not logged.has_contexts
    assert logged.true_value(np.full((5, 3), 1 / 3)) is None


BAD = [
    ("propensities", [1 / 3, 1 / 3, 0.0, 1 / 3, 1 / 3], r"column 'propensity', row 2: propensity 0\.0"),
    ("propensities", [1 / 3, 1.5, 1 / 3, 1 / 3, 1 / 3], r"column 'propensity', row 1: propensity 1\.5"),
    ("propensities", [1 / 3, 1 / 3, 1 / 3, np.nan, 1 / 3], r"column 'propensity', row 3: value nan"),
    ("actions", [0, 1, 2, 3, 0], r"column 'action', row 3: action 3 is outside 0\.\.2"),
    ("actions", [0, -1, 2, 0, 0], r"column 'action', row 1: action -1 is outside"),
    ("actions", [0, 1, 2.5, 0, 0], r"column 'action', row 2: value 2\.5 is not a whole number"),
    ("rewards", [0.0, 1.0, np.inf, 0.0, 1.0], r"column 'reward', row 2: value inf"),
    ("rewards", [0.0, 1.0], r"column 'reward': has 2 rows, expected 5"),
    ("positions", [0, 1, -1, 0, 0], r"column 'position', row 2: position -1 is negative"),
    ("purchased", [0, 1, 2, 0, 0], r"column 'purchased', row 2: value 2\.0 is not 0 or 1"),
    ("features", [[0.0, 1.0]] * 4 + [[np.nan, 0.0]], r"column 'x_age', row 4"),
    ("value_if_bought", np.ones((5, 2)), r"column 'value_if_bought': has 2 columns, expected 3"),
    ("n_actions", 0, r"n_actions must be at least 1"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_bad_columns_name_column_and_row(field: str, value: Any, message: str) -> None:
    cols = _columns()
    cols[field] = np.asarray(value) if field != "n_actions" else value
    with pytest.raises(LogValidationError, match=message):
        LoggedData(**cols)


def test_error_carries_column_and_row() -> None:
    cols = _columns()
    cols["propensities"] = np.array([0.5, 0.5, 0.5, 0.5, -0.1])
    with pytest.raises(LogValidationError) as info:
        LoggedData(**cols)
    assert (info.value.column, info.value.row) == ("propensity", 4)


def test_ladder_must_match_n_actions() -> None:
    with pytest.raises(LogValidationError, match="ladder has 9 actions"):
        LoggedData(**_columns(), ladder=PriceLadder.linear())


def test_take_and_concat_round_trip(market: Any) -> None:
    from pricepilot.evaluation import log_traffic
    from pricepilot.policies import make

    logged = log_traffic(market, make("uniform_random", market.ladder, seed=1), 250, batch_size=100)
    assert logged.n == 250
    assert logged.has_contexts
    halves = LoggedData.concat([logged.take(slice(0, 100)), logged.take(slice(100, 250))])
    np.testing.assert_array_equal(halves.actions, logged.actions)
    np.testing.assert_array_equal(halves.expected_rewards, logged.expected_rewards)  # type: ignore[arg-type]
    ctx = logged.contexts()
    assert ctx.n == 250
    np.testing.assert_allclose(ctx.prices, logged.ladder.prices(logged.list_prices))  # type: ignore[union-attr,arg-type]


def test_contexts_need_pricing_columns() -> None:
    with pytest.raises(ValueError, match="cannot rebuild pricing contexts"):
        LoggedData(**_columns()).contexts()
