"""The Open Bandit Dataset (ZOZOTOWN, Saito et al. 2021): logged item recommendations with clicks.

The dataset's folder layout is ``<root>/<policy>/<campaign>/<campaign>.csv`` with an
``item_context.csv`` beside it, for logging policies ``random`` (uniform) and ``bts`` (Bernoulli
Thompson sampling) and campaigns ``all``, ``men`` and ``women``. Each row is one item shown in one of
three slots of a recommendation widget: ``timestamp, item_id, position`` (1..3), ``click`` (0/1),
``propensity_score`` (probability the logging policy put this item in this slot), hashed
``user_feature_0..3`` and ``user-item_affinity_<k>``.

:func:`load_open_bandit` turns one such file into :class:`LoggedData`: the items are the actions, the
slots the positions (0 = top), clicks the rewards; the context features are the user features one-hot
encoded (first level dropped), as Open Bandit Pipeline's own loader makes them. It takes a path and
assumes nothing about where the data lives; it does not need Open Bandit Pipeline installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricepilot.data.logged import LoggedData, LogValidationError
from pricepilot.types import FloatArray

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
N_POSITIONS = 3
_COLUMN_IN_FILE = {
    "action": "item_id",
    "propensity": "propensity_score",
    "reward": "click",
    "position": "position",
}


@dataclass(frozen=True, slots=True)
class OpenBanditLog:
    """One log of the Open Bandit Dataset.

    Attributes
    ----------
    logged : LoggedData
        Items as actions (``n_actions`` = rows of ``item_context.csv``), slots 0..2 as positions,
        clicks as rewards, one-hot user features as features.
    item_features : ndarray of shape (n_actions, m)
        ``item_feature_0`` (numeric) and ``item_feature_1..3`` one-hot encoded.
    timestamps : ndarray of shape (n,), datetime64[us], UTC
    policy, campaign : str, which log this is
    """

    logged: LoggedData
    item_features: FloatArray
    timestamps: np.ndarray[tuple[int], np.dtype[np.datetime64]]
    policy: str
    campaign: str


def load_open_bandit(
    path: str | os.PathLike[str], policy: str = "random", campaign: str = "all"
) -> OpenBanditLog:
    """Load ``<path>/<policy>/<campaign>/<campaign>.csv`` and its ``item_context.csv``.

    Parameters
    ----------
    path : folder holding the ``random`` and ``bts`` folders (for example ``../shared/data/open_bandit``)
    policy : ``'random'`` or ``'bts'``, the logging policy
    campaign : ``'all'``, ``'men'`` or ``'women'``

    Raises
    ------
    ValueError for an unknown policy or campaign; FileNotFoundError when a file is missing;
    LogValidationError naming the file's column and row of a bad value.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown Open Bandit logging policy {policy!r}; choose one of {POLICIES}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"unknown Open Bandit campaign {campaign!r}; choose one of {CAMPAIGNS}")
    folder = Path(path) / policy / campaign
    log_file, item_file = folder / f"{campaign}.csv", folder / "item_context.csv"
    for file in (log_file, item_file):
        if not file.is_file():
            raise FileNotFoundError(
                f"no {file.name} in {folder}: pass the Open Bandit Dataset folder that holds "
                f"'random' and 'bts' (layout <root>/<policy>/<campaign>/<campaign>.csv)"
            )
    frame = pd.read_csv(log_file, index_col=0)
    items = pd.read_csv(item_file, index_col=0)
    n_actions = len(items)
    missing = [c for c in (*_COLUMN_IN_FILE.values(), "timestamp") if c not in frame.columns]
    if missing:
        raise LogValidationError(missing[0], None, f"missing from {log_file}")
    positions = pd.to_numeric(frame["position"], errors="coerce").to_numpy()
    bad = np.flatnonzero(~np.isin(positions, np.arange(1, N_POSITIONS + 1)))
    if bad.size:
        value = frame["position"].iloc[bad[0]]
        raise LogValidationError(
            "position", int(bad[0]), f"position {value!r} is not 1, 2 or 3 (in {log_file})"
        )
    user = frame[[c for c in frame.columns if c.startswith("user_feature")]]
    features = pd.get_dummies(user.astype(str), drop_first=True, dtype=np.float64)
    try:
        logged = LoggedData(
            features=features.to_numpy(),
            actions=frame["item_id"].to_numpy(),
            propensities=frame["propensity_score"].to_numpy(),
            rewards=frame["click"].to_numpy(),
            n_actions=n_actions,
            positions=positions.astype(np.int64) - 1,
            action_features=item_feature_matrix(items),
            feature_names=tuple(str(c) for c in features.columns),
            objective="clicks",
        )
    except LogValidationError as err:
        column = _COLUMN_IN_FILE.get(err.column, err.column)
        problem = str(err).split(": ", 1)[1]
        raise LogValidationError(column, err.row, f"{problem} (in {log_file})") from None
    stamps = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")
    return OpenBanditLog(logged, logged.action_features, stamps, policy, campaign)  # type: ignore[arg-type]


def item_feature_matrix(items: pd.DataFrame) -> FloatArray:
    """Item features of ``item_context.csv``, shape (n_items, m): ``item_feature_0`` as a number,
    the other ``item_feature_*`` columns one-hot encoded, rows in ``item_id`` order."""
    ordered = items.sort_values("item_id") if "item_id" in items.columns else items
    numeric = ordered[["item_feature_0"]].astype(np.float64)
    cats = ordered[[c for c in ordered.columns if c.startswith("item_feature_") and c != "item_feature_0"]]
    onehot = pd.get_dummies(cats.astype(str), dtype=np.float64)
    return np.asarray(pd.concat([numeric, onehot], axis=1).to_numpy(), dtype=np.float64)


def action_frequencies(logged: LoggedData) -> FloatArray:
    """How often each action was logged in each slot, as a distribution per slot.

    For a context-free logging policy (such as the dataset's Bernoulli Thompson sampling) this is its
    marginal action distribution over the logging period. Returns shape (n_actions, n_positions); each
    column sums to 1.
    """
    positions = logged.positions if logged.positions is not None else np.zeros(logged.n, dtype=np.int64)
    counts = np.zeros((logged.n_actions, logged.n_positions))
    np.add.at(counts, (logged.actions, positions), 1.0)
    totals = counts.sum(axis=0, keepdims=True)
    return np.asarray(counts / np.where(totals > 0, totals, 1.0), dtype=np.float64)


def per_position(distribution: FloatArray, logged: LoggedData) -> FloatArray:
    """Each round's row of a per-slot action distribution (n_actions, n_positions): shape (n, n_actions).

    The probabilities an estimator reads for a ranked log: the target's distribution over actions for
    the slot the round was logged in.
    """
    positions = logged.positions if logged.positions is not None else np.zeros(logged.n, dtype=np.int64)
    return np.asarray(distribution[:, positions].T, dtype=np.float64)


def obp_feedback(logged: LoggedData) -> dict[str, Any]:
    """The log as Open Bandit Pipeline's bandit-feedback dict (the same arrays, no copies), so OBP's
    estimators can be run on exactly PricePilot's inputs."""
    return {
        "n_rounds": logged.n,
        "n_actions": logged.n_actions,
        "action": logged.actions,
        "position": logged.positions,
        "reward": logged.rewards,
        "pscore": logged.propensities,
        "context": logged.features,
        "action_context": np.eye(logged.n_actions),
    }
