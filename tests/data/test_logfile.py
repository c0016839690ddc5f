from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pricepilot.data import LogValidationError, logs_from_frame, logs_to_frame, read_logs, write_logs
from pricepilot.evaluation import log_traffic
from pricepilot.policies import make


@pytest.fixture
def logged(market: Any) -> Any:
    return log_traffic(market, make("epsilon_greedy", market.ladder, seed=3), 300, batch_size=100)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_keeps_every_column_and_the_ladder(logged: Any, tmp_path: Path, suffix: str) -> None:
    path = write_logs(logged, tmp_path / f"logs{suffix}")
    back = read_logs(path)
    assert back.n == logged.n
    assert back.ladder is not None
    assert back.ladder.to_dict() == logged.ladder.to_dict()
    assert back.objective == "profit"
    assert back.feature_names == logged.feature_names
    for name in ("features", "actions", "propensities", "rewards", "value_if_bought", "expected_rewards"):
        np.testing.assert_allclose(getattr(back, name), getattr(logged, name), rtol=1e-12)
    np.testing.assert_array_equal(back.purchased, logged.purchased)
    np.testing.assert_array_equal(back.visitor_ids, logged.visitor_ids)
    np.testing.assert_array_equal(back.item_ids, logged.item_ids)
    np.testing.assert_allclose(back.action_features, logged.action_features)
    assert back.has_contexts


def _frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "action": np.arange(n) % 3,
            "propensity": np.full(n, 1 / 3),
            "reward": np.linspace(0, 1, n),
            "x_age": np.linspace(20, 60, n),
        }
    )


def _set(column: str, row: int, value: Any) -> pd.DataFrame:
    frame = _frame().astype({column: object}) if column in _frame() else _frame()
    frame.loc[row, column] = value
    return frame


BAD_FRAMES = [
    (_frame().drop(columns="propensity"), r"column 'propensity': missing from the logs"),
    (_frame().drop(columns="action"), r"column 'action': missing from the logs"),
    (_set("propensity", 3, 0.0), r"column 'propensity', row 3: propensity 0\.0 is outside \(0, 1\]"),
    (_set("propensity", 5, 1.2), r"column 'propensity', row 5: propensity 1\.2"),
    (_set("propensity", 2, "abc"), r"column 'propensity', row 2: value 'abc' is not a number"),
    (_set("reward", 4, None), r"column 'reward', row 4: value is missing"),
    (_set("action", 1, 7), r"column 'action', row 1: action 7 is outside 0\.\.2"),
    (_set("action", 0, 1.5), r"column 'action', row 0: value 1\.5 is not a whole number"),
    (_set("x_age", 2, "old"), r"column 'x_age', row 2: value 'old' is not a number"),
    (_frame().assign(value_if_bought_0=1.0, value_if_bought_2=1.0), r"column 'value_if_bought_1': missing"),
]


@pytest.mark.parametrize(("frame", "message"), BAD_FRAMES)
def test_bad_logs_are_rejected_naming_column_and_row(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(LogValidationError, match=message):
        logs_from_frame(frame, n_actions=3)


def test_bad_csv_file_names_column_and_row(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[4, "propensity"] = 0.0
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(LogValidationError, match=r"column 'propensity', row 4"):
        read_logs(tmp_path / "bad.csv", n_actions=3)


def test_number_of_actions_must_be_known(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "plain.csv", index=False)
    with pytest.raises(LogValidationError, match="cannot tell the number of actions"):
        read_logs(tmp_path / "plain.csv")
    assert read_logs(tmp_path / "plain.csv", n_actions=3).n_actions == 3


def test_unknown_format_and_missing_file(tmp_path: Path, logged: Any) -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        write_logs(logged, tmp_path / "logs.xlsx")
    with pytest.raises(FileNotFoundError, match="no log file"):
        read_logs(tmp_path / "nope.parquet")


def test_frame_round_trip(logged: Any) -> None:
    frame = logs_to_frame(logged)
    assert {"action", "propensity", "reward", "purchased", "value_if_bought_0"} <= set(frame.columns)
    back = logs_from_frame(frame, ladder=logged.ladder)
    np.testing.assert_allclose(back.rewards, logged.rewards)
