"""Log files: ``LoggedData`` to and from Parquet or CSV, with the ladder and objective kept beside it.

One row per logged round. Columns (``<a>`` runs over ``0 .. n_actions - 1``):

===========================  ========  ==========================================================
column                       needed    holds
===========================  ========  ==========================================================
``action``                   yes       the logged action's index
``propensity``               yes       its probability under the logging policy, in (0, 1]
``reward``                   yes       the reward that followed
``x_<name>``                           numeric context features
``position``                           slot in a ranked list (0 = top)
``purchased``                          0/1
``value_if_bought_<a>``                reward of a sale at each action's price
``expected_reward_<a>``                true expected reward of each action (simulators only)
``list_price``, ``unit_cost``          in the item's currency
``item_id``, ``visitor_id``            integers
===========================  ========  ==========================================================

Metadata (number of actions, price ladder, objective, action features) travels in the Parquet schema
under the key ``pricepilot``, or for CSV in a JSON file beside it (``logs.csv`` -> ``logs.csv.json``).
Any frame with these columns can be turned into ``LoggedData`` with :func:`logs_from_frame` (pandas,
or anything with ``to_pandas()``, such as a polars frame).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.data.logged import LoggedData, LogValidationError
from pricepilot.types import FloatArray, IntArray, PriceLadder

FORMAT_VERSION = 1
META_KEY = b"pricepilot"
REQUIRED = ("action", "propensity", "reward")
FEATURE_PREFIX = "x_"


def _numeric(frame: pd.DataFrame, column: str) -> FloatArray:
    """A column as floats; a value that is missing or not a number raises naming column and row."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        original = raw.iloc[row]
        problem = "value is missing" if pd.isna(original) else f"value {original!r} is not a number"
        raise LogValidationError(column, row, problem)
    return np.asarray(values.to_numpy(dtype=np.float64))


def _whole(frame: pd.DataFrame, column: str) -> IntArray:
    """A column of whole numbers; a fractional value raises naming column and row."""
    if pd.api.types.is_integer_dtype(frame[column].dtype):
        return np.asarray(frame[column].to_numpy(dtype=np.int64))  # ids beyond 2**53 stay exact
    values = _numeric(frame, column)
    bad = np.flatnonzero(values != np.round(values))
    if bad.size:
        raise LogValidationError(column, int(bad[0]), f"value {values[bad[0]]} is not a whole number")
    return values.astype(np.int64)


def _wide(frame: pd.DataFrame, prefix: str, k: int) -> FloatArray | None:
    """The ``prefix<a>`` columns as an (n, k) array; None when there are none."""
    present = [c for c in frame.columns if str(c).startswith(prefix)]
    if not present:
        return None
    expected = [f"{prefix}{a}" for a in range(k)]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise LogValidationError(missing[0], None, f"missing: a log with {prefix}* columns needs all {k}")
    extra = sorted(set(present) - set(expected))
    if extra:
        raise LogValidationError(extra[0], None, f"is beyond the {k} actions of the log")
    return np.column_stack([_numeric(frame, c) for c in expected])


def logs_from_frame(
    frame: Any,
    n_actions: int | None = None,
    ladder: PriceLadder | None = None,
    objective: str | None = None,
    action_features: FloatArray | None = None,
) -> LoggedData:
    """``LoggedData`` from a table with the columns of the module docstring.

    Parameters
    ----------
    frame : pandas DataFrame (or an object with ``to_pandas()``, such as a polars DataFrame)
    n_actions : size of the action set; default the ladder's length, else the number of
        ``value_if_bought_<a>`` columns
    ladder, objective, action_features : metadata of the log (see :class:`LoggedData`)

    Raises
    ------
    LogValidationError
        Naming the column (and the row) of the first missing column or bad value.
    """
    df: pd.DataFrame = frame.to_pandas() if hasattr(frame, "to_pandas") else pd.DataFrame(frame)
    df = df.reset_index(drop=True)
    for column in REQUIRED:
        if column not in df.columns:
            found = ", ".join(map(str, df.columns[:12])) + (" ..." if len(df.columns) > 12 else "")
            raise LogValidationError(column, None, f"missing from the logs (columns found: {found})")
    if n_actions is None:
        n_actions = ladder.n_actions if ladder is not None else None
    if n_actions is None:
        n_actions = sum(str(c).startswith("value_if_bought_") for c in df.columns) or None
    if n_actions is None:
        raise LogValidationError(
            "action", None, "cannot tell the number of actions: pass n_actions (or log a ladder)"
        )
    features = [c for c in df.columns if str(c).startswith(FEATURE_PREFIX)]

    def optional(column: str) -> FloatArray | None:
        return _numeric(df, column) if column in df.columns else None

    def optional_int(column: str) -> IntArray | None:
        return _whole(df, column) if column in df.columns else None

    feats = np.column_stack([_numeric(df, c) for c in features]) if features else np.zeros((len(df), 0))
    return LoggedData(
        features=feats,
        actions=_whole(df, "action"),
        propensities=_numeric(df, "propensity"),
        rewards=_numeric(df, "reward"),
        n_actions=n_actions,
        positions=optional_int("position"),
        purchased=optional("purchased"),  # type: ignore[arg-type]
        value_if_bought=_wide(df, "value_if_bought_", n_actions),
        expected_rewards=_wide(df, "expected_reward_", n_actions),
        action_features=action_features,
        feature_names=tuple(str(c)[len(FEATURE_PREFIX) :] for c in features),
        ladder=ladder,
        list_prices=optional("list_price"),
        unit_costs=optional("unit_cost"),
        item_ids=optional_int("item_id"),
        visitor_ids=optional_int("visitor_id"),
        objective=objective,
    )


def logs_to_frame(logged: LoggedData) -> pd.DataFrame:
    """The log as a pandas DataFrame with the columns of the module docstring."""
    cols: dict[str, Any] = {
        "action": logged.actions,
        "propensity": logged.propensities,
        "reward": logged.rewards,
    }
    optional = {
        "position": logged.positions,
        "purchased": None if logged.purchased is None else logged.purchased.astype(np.int8),
        "list_price": logged.list_prices,
        "unit_cost": logged.unit_costs,
        "item_id": logged.item_ids,
        "visitor_id": logged.visitor_ids,
    }
    cols.update({k: v for k, v in optional.items() if v is not None})
    for j, name in enumerate(logged.feature_names):
        cols[FEATURE_PREFIX + name] = logged.features[:, j]
    for prefix, wide in (
        ("value_if_bought_", logged.value_if_bought),
        ("expected_reward_", logged.expected_rewards),
    ):
        if wide is not None:
            for a in range(logged.n_actions):
                cols[f"{prefix}{a}"] = wide[:, a]
    return pd.DataFrame(cols)


def _meta(logged: LoggedData) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "n_actions": logged.n_actions,
        "ladder": None if logged.ladder is None else logged.ladder.to_dict(),
        "objective": logged.objective,
        "action_features": None if logged.action_features is None else logged.action_features.tolist(),
    }


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_logs(logged: LoggedData, path: str | os.PathLike[str]) -> Path:
    """Write the log to ``path`` (``.parquet`` or ``.csv``) atomically; return the path written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    frame = logs_to_frame(logged)
    meta = json.dumps(_meta(logged))
    tmp = target.with_name(target.name + ".tmp")
    if target.suffix in {".parquet", ".pq"}:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: meta.encode()})
        pq.write_table(table, tmp)
    elif target.suffix == ".csv":
        frame.to_csv(tmp, index=False)
        side_tmp = _sidecar(tmp)
        side_tmp.write_text(meta)
        os.replace(side_tmp, _sidecar(target))
    else:
        raise ValueError(f"unknown log format {target.suffix!r} for {target}: use .parquet or .csv")
    os.replace(tmp, target)
    return target


def read_logs(path: str | os.PathLike[str], n_actions: int | None = None) -> LoggedData:
    """Read a log written by :func:`write_logs`, or any Parquet/CSV file with the documented columns.

    Parameters
    ----------
    path : ``.parquet`` / ``.pq`` or ``.csv`` / ``.csv.gz`` file
    n_actions : size of the action set when the file's metadata does not say it

    Raises
    ------
    FileNotFoundError, ValueError (unknown format), LogValidationError (bad or missing column)
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no log file at {source}")
    meta: dict[str, Any] = {}
    if source.suffix in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        table = pq.read_table(source)
        raw = (table.schema.metadata or {}).get(META_KEY)
        meta = json.loads(raw) if raw else {}
        frame = table.to_pandas()
    elif source.name.endswith((".csv", ".csv.gz")):
        side = _sidecar(source)
        meta = json.loads(side.read_text()) if side.is_file() else {}
        frame = pd.read_csv(source)
    else:
        raise ValueError(f"unknown log format for {source}: use .parquet or .csv")
    if meta and meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{source}: log format {meta.get('format')!r}, this version reads {FORMAT_VERSION}")
    ladder = PriceLadder.from_dict(meta["ladder"]) if meta.get("ladder") else None
    af = meta.get("action_features")
    return logs_from_frame(
        frame,
        n_actions=n_actions if n_actions is not None else meta.get("n_actions"),
        ladder=ladder,
        objective=meta.get("objective"),
        action_features=None if af is None else np.asarray(af, dtype=np.float64),
    )
