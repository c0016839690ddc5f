"""Ranking metrics with one held-out item per user, ranked against all items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.recommend.base import Recommender
from pricepilot.recommend.split import LeaveLastOut
from pricepilot.types import FloatArray, IntArray


def hit_ranks(ranked: IntArray, targets: IntArray) -> IntArray:
    """0-based rank of each target in its row of ``ranked`` (shape (n, k)), or -1 when absent."""
    if ranked.ndim != 2 or ranked.shape[0] != targets.shape[0]:
        raise ValueError(f"ranked must have shape (n, k) with n = {targets.shape[0]}, got {ranked.shape}")
    hit = ranked == targets[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)


def recall_at_k(ranked: IntArray, targets: IntArray, k: int) -> float:
    """Share of users whose held-out item is in their top ``k`` (the first k columns of ``ranked``)."""
    ranks = hit_ranks(ranked[:, :k], targets)
    return float(np.mean(ranks >= 0)) if ranks.size else 0.0


def ndcg_at_k(ranked: IntArray, targets: IntArray, k: int) -> float:
    """Mean of ``1 / log2(rank + 2)`` over users (0 where the item is not in the top ``k``)."""
    ranks = hit_ranks(ranked[:, :k], targets)
    gains: FloatArray = np.where(ranks >= 0, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
    return float(np.mean(gains)) if gains.size else 0.0


@dataclass(frozen=True, slots=True)
class RankingScores:
    """Recall@k and NDCG@k of one model on one split, over ``n_users`` tested users."""

    k: int
    recall: float
    ndcg: float
    n_users: int


def evaluate(
    model: Recommender, split: LeaveLastOut, k: int = 10, exclude_seen: bool = True, batch: int = 1024
) -> RankingScores:
    """Rank all items for every tested user with a model fitted on ``split.train``."""
    ranked = np.zeros((split.users.size, k), dtype=np.int64)
    for start in range(0, split.users.size, batch):
        stop = start + batch
        ranked[start:stop], _ = model.candidates(split.users[start:stop], k, exclude_seen=exclude_seen)
    return RankingScores(
        k, recall_at_k(ranked, split.items, k), ndcg_at_k(ranked, split.items, k), int(split.users.size)
    )
