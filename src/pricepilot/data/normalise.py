"""Feature normalisation fitted once, on training data, and saved with the model.

A :class:`Normaliser` learns per-column location and scale in :meth:`~Normaliser.fit` and applies the
same transform to every later batch (training, evaluation, serving). :meth:`~Normaliser.to_dict`
gives plain JSON-able numbers to store beside a model; :meth:`~Normaliser.from_dict` restores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pricepilot.types import FloatArray

Method = Literal["standard", "minmax"]
FORMAT = 1


class NotFittedError(RuntimeError):
    """The normaliser was used before ``fit``."""


@dataclass(slots=True)
class Normaliser:
    """Per-column ``(x - location) / scale``.

    Parameters
    ----------
    method : ``'standard'`` (mean and standard deviation) or ``'minmax'`` (minimum and range, to
        [0, 1] on the training data); a constant column gets scale 1

    Attributes (after ``fit``)
    --------------------------
    columns_ : tuple of str, feature names in order
    location_, scale_ : ndarray of shape (d,)
    """

    method: Method = "standard"
    columns_: tuple[str, ...] | None = None
    location_: FloatArray | None = None
    scale_: FloatArray | None = None

    def __post_init__(self) -> None:
        if self.method not in ("standard", "minmax"):
            raise ValueError(f"unknown normalisation {self.method!r}: use 'standard' or 'minmax'")

    @staticmethod
    def _matrix(x: pd.DataFrame | ArrayLike) -> tuple[FloatArray, tuple[str, ...] | None]:
        if isinstance(x, pd.DataFrame):
            return x.to_numpy(dtype=np.float64), tuple(str(c) for c in x.columns)
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"features must have shape (n, d), got {arr.shape}")
        return arr, None

    def fit(self, x: pd.DataFrame | ArrayLike) -> Normaliser:
        """Learn location and scale from ``x`` of shape (n, d) (NaNs ignored); returns self."""
        arr, names = self._matrix(x)
        if arr.shape[0] == 0:
            raise ValueError("cannot fit a normaliser on zero rows")
        if self.method == "standard":
            location, scale = np.nanmean(arr, axis=0), np.nanstd(arr, axis=0)
        else:
            location = np.nanmin(arr, axis=0)
            scale = np.nanmax(arr, axis=0) - location
        self.columns_ = names or tuple(f"x{j}" for j in range(arr.shape[1]))
        self.location_ = np.asarray(location, dtype=np.float64)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0).astype(np.float64)
        return self

    def transform(self, x: pd.DataFrame | ArrayLike) -> FloatArray:
        """``x`` normalised, shape (n, d); a frame's columns are matched by name."""
        if self.location_ is None or self.scale_ is None or self.columns_ is None:
            raise NotFittedError("this Normaliser is not fitted: call fit(training_features) first")
        if isinstance(x, pd.DataFrame):
            missing = [c for c in self.columns_ if c not in x.columns]
            if missing:
                raise ValueError(f"features {missing} were fitted but are missing from the frame")
            x = x[list(self.columns_)]
        arr, _ = self._matrix(x)
        if arr.shape[1] != len(self.columns_):
            raise ValueError(
                f"got {arr.shape[1]} features, the normaliser was fitted on {len(self.columns_)}"
            )
        return np.asarray((arr - self.location_) / self.scale_, dtype=np.float64)

    def fit_transform(self, x: pd.DataFrame | ArrayLike) -> FloatArray:
        return self.fit(x).transform(x)

    def inverse_transform(self, z: ArrayLike) -> FloatArray:
        """Undo :meth:`transform`."""
        if self.location_ is None or self.scale_ is None:
            raise NotFittedError("this Normaliser is not fitted: call fit(training_features) first")
        return np.asarray(np.asarray(z, dtype=np.float64) * self.scale_ + self.location_, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and names, JSON-able, to save with the model."""
        if self.location_ is None or self.scale_ is None or self.columns_ is None:
            raise NotFittedError("only a fitted Normaliser can be saved")
        return {
            "format": FORMAT,
            "method": self.method,
            "columns": list(self.columns_),
            "location": self.location_.tolist(),
            "scale": self.scale_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normaliser:
        """The normaliser saved by :meth:`to_dict`."""
        if data.get("format") != FORMAT:
            raise ValueError(f"normaliser format {data.get('format')!r}; this version reads {FORMAT}")
        location = np.asarray(data["location"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        columns = tuple(str(c) for c in data["columns"])
        if not (location.shape == scale.shape == (len(columns),)):
            raise ValueError("normaliser location, scale and columns differ in length")
        return cls(method=data["method"], columns_=columns, location_=location, scale_=scale)
