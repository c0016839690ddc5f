"""Matrix factorisation for implicit feedback: weighted ALS (Hu, Koren and Volinsky, 2008) in numpy.

Each observed (user, item) pair has preference 1 and confidence ``1 + alpha * count``; unobserved
pairs have preference 0 and confidence 1. Alternating exact least-squares solves for user and item
factors; a user's score for an item is the dot product of their factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
from scipy import sparse

from pricepilot.recommend.base import Interactions, check_fitted, top_k
from pricepilot.types import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class ALSConfig:
    """Hyper-parameters of :class:`ALS`.

    factors : latent dimension
    regularization : L2 penalty on the factors (scaled by nothing: a plain ridge term)
    alpha : confidence slope, confidence = 1 + alpha * count
    iterations : full alternations (users then items)
    seed : seed of the initial factors
    """

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 2.0
    iterations: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.factors < 1 or self.iterations < 1:
            raise ValueError(f"factors and iterations must be >= 1, got {self.factors}, {self.iterations}")
        if self.regularization < 0 or self.alpha <= 0:
            raise ValueError(
                f"need regularization >= 0 and alpha > 0, got {self.regularization}, {self.alpha}"
            )


def _solve_side(counts: sparse.csr_matrix, other: FloatArray, cfg: ALSConfig) -> FloatArray:
    """Least-squares factors for every row of ``counts`` (shape (n_rows, n_other)) given ``other``."""
    f = other.shape[1]
    gram = other.T @ other + cfg.regularization * np.eye(f)
    out = np.zeros((counts.shape[0], f))
    indptr, indices, data = counts.indptr, counts.indices, counts.data
    for row in range(counts.shape[0]):
        lo, hi = indptr[row], indptr[row + 1]
        if lo == hi:
            continue
        y = other[indices[lo:hi]]
        conf = cfg.alpha * data[lo:hi]
        a = gram + (y.T * conf) @ y
        b = y.T @ (1.0 + conf)
        out[row] = np.linalg.solve(a, b)
    return out


class ALS:
    """Implicit-feedback matrix factorisation by weighted alternating least squares."""

    def __init__(self, config: ALSConfig | None = None) -> None:
        self.config = config or ALSConfig()
        self.user_factors_: FloatArray | None = None
        self.item_factors_: FloatArray | None = None
        self.seen_: sparse.csr_matrix | None = None

    def fit(self, interactions: Interactions) -> Self:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        counts = interactions.user_item_matrix().astype(np.float64)
        counts_t = counts.T.tocsr()
        items = rng.normal(0.0, 0.01, size=(interactions.n_items, cfg.factors))
        users = np.zeros((interactions.n_users, cfg.factors))
        for _ in range(cfg.iterations):
            users = _solve_side(counts, items, cfg)
            items = _solve_side(counts_t, users, cfg)
        self.user_factors_, self.item_factors_, self.seen_ = users, items, counts.tocsr()
        return self

    def scores(self, users: IntArray) -> FloatArray:
        """Scores of every item for ``users``: shape (n, n_items)."""
        check_fitted(self, "user_factors_")
        assert self.user_factors_ is not None
        assert self.item_factors_ is not None
        return np.asarray(self.user_factors_[users] @ self.item_factors_.T, dtype=np.float64)

    def candidates(self, users: IntArray, k: int, exclude_seen: bool = True) -> tuple[IntArray, FloatArray]:
        users = np.asarray(users, dtype=np.int64)
        return top_k(self.scores(users), k, self.seen_ if exclude_seen else None, users)
