"""Peer recommenders from other libraries, behind the same protocol, for benchmarks.

``implicit`` (``pip install implicit``, in the ``peers`` extra) is imported lazily:
:func:`implicit_available` says whether it is installed, and building :class:`ImplicitALS` without
it raises an ``ImportError`` that says how to install it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from scipy import sparse

from pricepilot.recommend.base import Interactions, check_fitted
from pricepilot.types import FloatArray, IntArray


def implicit_available() -> bool:
    """Whether the ``implicit`` package can be imported."""
    return importlib.util.find_spec("implicit") is not None


@dataclass(frozen=True, slots=True)
class ImplicitALSConfig:
    """Arguments of ``implicit.als.AlternatingLeastSquares`` (confidence = 1 + alpha * count)."""

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 2.0
    iterations: int = 15
    seed: int = 0
    num_threads: int = 0


class ImplicitALS:
    """``implicit``'s CPU ALS fitted on the same interaction counts as our models."""

    def __init__(self, config: ImplicitALSConfig | None = None) -> None:
        if not implicit_available():
            raise ImportError("ImplicitALS needs the implicit package: pip install 'pricepilot[peers]'")
        self.config = config or ImplicitALSConfig()
        self.model_: Any = None
        self.seen_: sparse.csr_matrix | None = None

    def fit(self, interactions: Interactions) -> Self:
        from implicit.cpu.als import AlternatingLeastSquares  # type: ignore[import-untyped]
        from threadpoolctl import threadpool_limits

        cfg = self.config
        self.seen_ = interactions.user_item_matrix()
        # implicit parallelises itself and warns (and slows) when BLAS threads nest inside its own
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                random_state=cfg.seed,
                num_threads=cfg.num_threads,
                calculate_training_loss=False,
            )
            model.fit(self.seen_, show_progress=False)
        self.model_ = model
        return self

    def candidates(self, users: IntArray, k: int, exclude_seen: bool = True) -> tuple[IntArray, FloatArray]:
        check_fitted(self, "model_")
        assert self.seen_ is not None
        users = np.asarray(users, dtype=np.int64)
        items, scores = self.model_.recommend(
            users, self.seen_[users], N=k, filter_already_liked_items=exclude_seen
        )
        return np.asarray(items, dtype=np.int64), np.asarray(scores, dtype=np.float64)
