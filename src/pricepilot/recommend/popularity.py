"""Most-popular baseline: every user gets the items with the most interactions."""

from __future__ import annotations

from typing import Self

import numpy as np
from scipy import sparse

from pricepilot.recommend.base import Interactions, check_fitted, top_k
from pricepilot.types import FloatArray, IntArray


class Popularity:
    """Scores each item by its interaction count in the fitted data (ties: lower item index first)."""

    def __init__(self) -> None:
        self.counts_: FloatArray | None = None
        self.seen_: sparse.csr_matrix | None = None

    def fit(self, interactions: Interactions) -> Self:
        self.counts_ = np.bincount(interactions.items, minlength=interactions.n_items).astype(np.float64)
        self.seen_ = interactions.user_item_matrix()
        return self

    def candidates(self, users: IntArray, k: int, exclude_seen: bool = True) -> tuple[IntArray, FloatArray]:
        check_fitted(self, "counts_")
        assert self.counts_ is not None
        users = np.asarray(users, dtype=np.int64)
        scores = np.broadcast_to(self.counts_, (users.size, self.counts_.size))
        return top_k(scores, k, self.seen_ if exclude_seen else None, users)
