"""Candidate generation: popularity, matrix factorisation (ALS), a SASRec sequence model, and peers.

Evaluate leave-last-out with :func:`leave_last_out` and :func:`evaluate` (Recall@k, NDCG@k over all
items). :class:`SASRec` needs torch and is imported on first use.
"""

from __future__ import annotations

from typing import Any

from pricepilot.recommend.base import Interactions, Recommender, top_k
from pricepilot.recommend.metrics import RankingScores, evaluate, hit_ranks, ndcg_at_k, recall_at_k
from pricepilot.recommend.mf import ALS, ALSConfig
from pricepilot.recommend.peers import ImplicitALS, ImplicitALSConfig, implicit_available
from pricepilot.recommend.popularity import Popularity
from pricepilot.recommend.split import LeaveLastOut, leave_last_out

__all__ = [
    "ALS",
    "ALSConfig",
    "ImplicitALS",
    "ImplicitALSConfig",
    "Interactions",
    "LeaveLastOut",
    "Popularity",
    "RankingScores",
    "Recommender",
    "SASRec",
    "SASRecConfig",
    "evaluate",
    "hit_ranks",
    "implicit_available",
    "leave_last_out",
    "ndcg_at_k",
    "recall_at_k",
    "top_k",
]


def __getattr__(name: str) -> Any:
    if name in ("SASRec", "SASRecConfig"):
        from pricepilot.recommend import sasrec

        return getattr(sasrec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
