from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pricepilot.data import LogValidationError, action_frequencies, load_open_bandit, per_position


def test_loads_the_random_log(open_bandit_path: Path) -> None:
    log = load_open_bandit(open_bandit_path, "random", "men")
    logged = log.logged
    assert logged.n == 10_000
    assert logged.n_actions == 34
    assert logged.n_positions == 3
    np.testing.assert_allclose(logged.propensities, 1 / 34)  # uniform over the 34 items, per slot
    assert set(np.unique(logged.rewards)) <= {0.0, 1.0}
    assert log.item_features.shape[0] == 34
    assert log.timestamps.shape == (10_000,)
    assert logged.objective == "clicks"


def test_bts_action_frequencies_are_per_slot_distributions(open_bandit_path: Path) -> None:
    bts = load_open_bandit(open_bandit_path, "bts", "women").logged
    table = action_frequencies(bts)
    assert table.shape == (46, 3)
    np.testing.assert_allclose(table.sum(axis=0), 1.0)
    rows = per_position(table, bts)
    assert rows.shape == (bts.n, 46)
    assert bts.positions is not None
    np.testing.assert_allclose(rows[0], table[:, bts.positions[0]])


def test_unknown_names_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown Open Bandit campaign 'kids'"):
        load_open_bandit(tmp_path, "random", "kids")
    with pytest.raises(ValueError, match="unknown Open Bandit logging policy"):
        load_open_bandit(tmp_path, "greedy", "all")
    with pytest.raises(FileNotFoundError, match=r"no all\.csv"):
        load_open_bandit(tmp_path, "random", "all")


def test_bad_rows_name_the_file_column(tmp_path: Path) -> None:
    folder = tmp_path / "random" / "all"
    folder.mkdir(parents=True)
    pd.DataFrame({"item_id": [0, 1], "item_feature_0": [0.1, 0.2], "item_feature_1": ["a", "b"]}).to_csv(
        folder / "item_context.csv"
    )
    frame = pd.DataFrame(
        {
            "timestamp": ["2019-11-24 00:00:00+00:00"] * 3,
            "item_id": [0, 1, 0],
            "position": [1, 2, 3],
            "click": [0, 1, 0],
            "propensity_score": [0.5, 0.0, 0.5],
            "user_feature_0": ["x", "y", "x"],
        }
    )
    frame.to_csv(folder / "all.csv")
    with pytest.raises(LogValidationError, match=r"column 'propensity_score', row 1"):
        load_open_bandit(tmp_path, "random", "all")
    frame.loc[1, "propensity_score"] = 0.5
    frame.loc[2, "item_id"] = 5
    frame.to_csv(folder / "all.csv")
    with pytest.raises(LogValidationError, match=r"column 'item_id', row 2: action 5 is outside 0\.\.1"):
        load_open_bandit(tmp_path, "random", "all")
    frame.loc[2, "item_id"] = 0
    frame.loc[0, "position"] = 4
    frame.to_csv(folder / "all.csv")
    with pytest.raises(LogValidationError, match=r"column 'position', row 0"):
        load_open_bandit(tmp_path, "random", "all")
