"""Feature frames as policy context: a float matrix aligned to the visitors or items of a batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pricepilot.types import FloatArray


def feature_matrix(
    features: pd.DataFrame,
    keys: ArrayLike,
    columns: Sequence[str] | None = None,
    log_columns: Sequence[str] = (),
    fill: float = 0.0,
) -> tuple[FloatArray, list[str]]:
    """Rows of ``features`` for ``keys``, as policy context features.

    Parameters
    ----------
    features : a frame from :func:`visitor_features` or :func:`item_features` (indexed by key)
    keys : array of shape (n,), the visitor pseudonyms or item ids of the batch, repeats allowed
    columns : the columns to use, in order (default: all)
    log_columns : columns passed through ``log1p`` (counts and money, which are heavy-tailed)
    fill : value for missing entries (keys without history, NaN features)

    Returns
    -------
    matrix : ndarray of shape (n, len(columns) + 1), float64, without NaN; the last column, ``known``,
        is 1.0 where the key has a row in ``features``
    names : the column names, ``known`` last
    """
    names = list(features.columns if columns is None else columns)
    missing = [c for c in (*names, *log_columns) if c not in features.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the features (has {list(features.columns)})")
    bad = [c for c in log_columns if (features[c].dropna() < 0).any()]
    if bad:
        raise ValueError(f"log_columns must be non-negative, but {bad} hold negative values")
    key_index = pd.Index(np.asarray(keys).ravel())
    picked = features[names].reindex(key_index)
    known = key_index.isin(features.index).astype(np.float64)
    for c in log_columns:
        if c in names:
            picked[c] = np.log1p(picked[c])
    values = picked.to_numpy(dtype=np.float64)
    values = np.where(np.isnan(values), fill, values)
    return np.column_stack([values, known]), [*names, "known"]
