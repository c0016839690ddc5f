"""Repeat-purchase baseline: a mixture of what the user bought before and what everybody buys.

Shoppers of groceries re-buy staples, so a user's own history is a strong predictor of the next
purchase. The score of item ``i`` for user ``u`` is

    own_weight * own_share(u, i) + (1 - own_weight) * popularity_share(i)

where ``own_share`` is the user's (optionally recency-decayed) interactions with ``i`` over all of the
user's interactions, and ``popularity_share`` the item's share of all interactions. ``own_weight = 1``
ranks the user's own items first (by count) and the rest by popularity; ``0`` is plain popularity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
from scipy import sparse

from pricepilot.recommend.base import Interactions, check_fitted, top_k
from pricepilot.types import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class RepeatBuyConfig:
    """Hyper-parameters of :class:`RepeatBuy`.

    own_weight : weight of the user's own history against global popularity, in [0, 1]
    half_life : a past interaction weighs ``0.5 ** (age / half_life)``, its age measured back from the
        user's last interaction in the timestamps' unit (seconds for datetimes); ``None``: plain counts
    """

    own_weight: float = 1.0
    half_life: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.own_weight <= 1.0:
            raise ValueError(f"own_weight must lie in [0, 1], got {self.own_weight}")
        if self.half_life is not None and not self.half_life > 0:
            raise ValueError(f"half_life must be positive (or None), got {self.half_life}")


class RepeatBuy:
    """Scores items by a mixture of the user's own (decayed) purchase shares and global popularity."""

    def __init__(self, config: RepeatBuyConfig | None = None) -> None:
        self.config = config or RepeatBuyConfig()
        self.own_: sparse.csr_matrix | None = None
        self.popularity_: FloatArray | None = None

    def fit(self, interactions: Interactions) -> Self:
        weights = np.ones(interactions.n)
        if self.config.half_life is not None and interactions.n:
            last = np.full(interactions.n_users, np.iinfo(np.int64).min)
            np.maximum.at(last, interactions.users, interactions.timestamps)
            age = (last[interactions.users] - interactions.timestamps).astype(np.float64)
            weights = 0.5 ** (age / self.config.half_life)
        own = sparse.csr_matrix(
            (weights, (interactions.users, interactions.items)),
            shape=(interactions.n_users, interactions.n_items),
        )
        own.sum_duplicates()
        totals = np.asarray(own.sum(axis=1)).ravel()
        self.own_ = sparse.csr_matrix(sparse.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ own)
        counts = np.bincount(interactions.items, minlength=interactions.n_items).astype(np.float64)
        self.popularity_ = counts / max(counts.sum(), 1.0)
        return self

    def scores(self, users: IntArray) -> FloatArray:
        """Scores of every item for ``users``, shape (n, n_items), in [0, 1]. With ``own_weight = 1``
        the user's own items score ``1 + own_share`` and the rest their popularity share (below 1)."""
        check_fitted(self, "own_")
        assert self.own_ is not None
        assert self.popularity_ is not None
        own = self.own_[users].toarray()
        w = self.config.own_weight
        if w == 1.0:  # own items first; popularity orders the rest
            return np.where(own > 0, 1.0 + own, self.popularity_[None, :])
        return np.asarray(w * own + (1.0 - w) * self.popularity_[None, :], dtype=np.float64)

    def candidates(self, users: IntArray, k: int, exclude_seen: bool = True) -> tuple[IntArray, FloatArray]:
        users = np.asarray(users, dtype=np.int64)
        seen = (self.own_ > 0).tocsr() if exclude_seen and self.own_ is not None else None
        return top_k(self.scores(users), k, seen, users)
