"""Markets calibrated to real data: segments and items with fitted demand, shipped as package JSON.

A :class:`Calibration` replaces the random draws of the catalog and the visitor population (see
:func:`pricepilot.market.population.calibrated_population`): each visitor is a customer segment (for
the ``oj`` scenario, a Dominick's store, its observed features the store's demographics), each item has
its list price and unit cost from the data, and the purchase log-odds at list price and their slope in
log price are given per segment and item. ``pricepilot.demand`` fits and writes them; this module only
reads and writes the format, so the market needs neither the data nor the fitting code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pricepilot.types import FloatArray, IntArray

FORMAT_VERSION = 1
_PACKAGE_DIR = "calibrations"


@dataclass(frozen=True)
class Calibration:
    """A fitted market world. S segments, J items; arrays as shaped below.

    Attributes
    ----------
    name : str, the calibration's (and scenario's) name
    segment_ids : ndarray of shape (S,), the source's segment numbers (store numbers)
    segment_features : ndarray of shape (S, d), what a policy may see about a segment
    segment_feature_names : d names
    item_names : J names
    list_price, unit_cost : ndarrays of shape (J,), in currency per item
    quality : ndarray of shape (J,), item log-odds of a purchase at list price above ``base_logit``
        (averaged over segments)
    taste : ndarray of shape (S, J), the rest of the log-odds at list price of each segment and item
    sensitivity : ndarray of shape (S, J), slope of the purchase log-odds in log price (minus the
        config's ``competitor_weight``, which the market adds)
    elasticity : ndarray of shape (S, J), the fitted own-price elasticity that ``sensitivity``
        reproduces at list price (``-slope * (1 - P(buy at list price))``)
    config : MarketConfig fields the fit sets (``base_logit``, promotions, season, sizes)
    notes : how the calibration was made (source, model, held-out errors), free-form numbers and text
    """

    name: str
    segment_ids: IntArray
    segment_features: FloatArray
    segment_feature_names: tuple[str, ...]
    item_names: tuple[str, ...]
    list_price: FloatArray
    unit_cost: FloatArray
    quality: FloatArray
    taste: FloatArray
    sensitivity: FloatArray
    elasticity: FloatArray
    config: dict[str, float | int]
    notes: dict[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        S, J = self.n_segments, self.n_items
        shapes = {
            "segment_features": (S, len(self.segment_feature_names)),
            "list_price": (J,),
            "unit_cost": (J,),
            "quality": (J,),
            "taste": (S, J),
            "sensitivity": (S, J),
            "elasticity": (S, J),
        }
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value.shape != shape:
                raise ValueError(
                    f"Calibration {self.name!r}: {name} has shape {value.shape}, expected {shape}"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"Calibration {self.name!r}: {name} holds non-finite values")
        if not np.all((self.unit_cost > 0) & (self.unit_cost < self.list_price)):
            raise ValueError(f"Calibration {self.name!r}: need 0 < unit_cost < list_price for every item")

    @property
    def n_segments(self) -> int:
        return int(self.segment_ids.size)

    @property
    def n_items(self) -> int:
        return len(self.item_names)

    def purchase_probability(self) -> FloatArray:
        """P(buy) of every segment and item at list price without season or promotion, shape (S, J)."""
        u = float(self.config.get("base_logit", 0.0)) + self.quality[None, :] + self.taste
        return np.asarray(1.0 / (1.0 + np.exp(-u)), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        def rounded(x: FloatArray) -> Any:
            return np.round(x, 6).tolist()

        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "segment_ids": self.segment_ids.tolist(),
            "segment_features": rounded(self.segment_features),
            "segment_feature_names": list(self.segment_feature_names),
            "item_names": list(self.item_names),
            "list_price": rounded(self.list_price),
            "unit_cost": rounded(self.unit_cost),
            "quality": rounded(self.quality),
            "taste": rounded(self.taste),
            "sensitivity": rounded(self.sensitivity),
            "elasticity": rounded(self.elasticity),
            "config": dict(self.config),
            "notes": dict(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"calibration format_version {version!r} is not {FORMAT_VERSION}: refit it")

        def floats(key: str) -> FloatArray:
            return np.asarray(data[key], dtype=np.float64)

        return cls(
            name=str(data["name"]),
            segment_ids=np.asarray(data["segment_ids"], dtype=np.int64),
            segment_features=floats("segment_features"),
            segment_feature_names=tuple(data["segment_feature_names"]),
            item_names=tuple(data["item_names"]),
            list_price=floats("list_price"),
            unit_cost=floats("unit_cost"),
            quality=floats("quality"),
            taste=floats("taste"),
            sensitivity=floats("sensitivity"),
            elasticity=floats("elasticity"),
            config=dict(data["config"]),
            notes=dict(data.get("notes", {})),
        )


def packaged_path(name: str) -> Path:
    """Where the packaged calibration ``name`` lives (inside ``pricepilot/market/calibrations``)."""
    return Path(str(resources.files("pricepilot.market") / _PACKAGE_DIR / f"{name}.json"))


def calibration_digest(name: str) -> str:
    """SHA-256 of the packaged calibration file ``name``: which fitted world a record was run on."""
    path = packaged_path(name)
    if not path.is_file():
        raise ValueError(f"no packaged calibration {name!r} (looked for {path})")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def available_calibrations() -> list[str]:
    """Names of the calibrations shipped with the package."""
    folder = Path(str(resources.files("pricepilot.market") / _PACKAGE_DIR))
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def save_calibration(calibration: Calibration, path: str | os.PathLike[str]) -> Path:
    """Write ``calibration`` as JSON to ``path`` (whole file written at once); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(calibration.to_dict(), separators=(",", ":"))
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def read_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read a calibration JSON written by :func:`save_calibration`."""
    with open(path, encoding="utf-8") as fh:
        return Calibration.from_dict(json.load(fh))


@functools.cache
def load_calibration(name: str) -> Calibration:
    """The packaged calibration called ``name`` (read once, then cached)."""
    path = packaged_path(name)
    if not path.is_file():
        raise ValueError(
            f"no packaged calibration {name!r} (looked for {path}); available: {available_calibrations()}"
        )
    return read_calibration(path)
