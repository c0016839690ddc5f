"""Candidate generation: popularity, repeat purchase, matrix factorisation (ALS), a SASRec sequence model
(optionally with text embeddings of items, for cold items), peers, and price-aware re-ranking.

Evaluate leave-last-out with :func:`leave_last_out` and :func:`evaluate` (Recall@k, NDCG@k over all
items). :class:`SASRec` needs torch and is imported on first use; :class:`TextEmbedder` loads its
sentence model (the ``text`` extra) on first use. :func:`rerank` blends relevance with expected
objective (purchase probability x margin).
"""

from __future__ import annotations

from typing import Any

from pricepilot.recommend.base import Interactions, Recommender, top_k
from pricepilot.recommend.metrics import RankingScores, evaluate, hit_ranks, ndcg_at_k, recall_at_k
from pricepilot.recommend.mf import ALS, ALSConfig
from pricepilot.recommend.peers import ImplicitALS, ImplicitALSConfig, implicit_available
from pricepilot.recommend.popularity import Popularity
from pricepilot.recommend.repeat import RepeatBuy, RepeatBuyConfig
from pricepilot.recommend.rerank import RerankConfig, blend_scores, expected_objective, rerank
from pricepilot.recommend.split import LeaveLastOut, leave_last_out
from pricepilot.recommend.text import TextEmbedder, TextEmbedderConfig, text_model_available

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
    "RepeatBuy",
    "RepeatBuyConfig",
    "RerankConfig",
    "SASRec",
    "SASRecConfig",
    "TextEmbedder",
    "TextEmbedderConfig",
    "blend_scores",
    "evaluate",
    "expected_objective",
    "hit_ranks",
    "implicit_available",
    "leave_last_out",
    "ndcg_at_k",
    "recall_at_k",
    "rerank",
    "text_model_available",
    "top_k",
]


def __getattr__(name: str) -> Any:
    if name in ("SASRec", "SASRecConfig"):
        from pricepilot.recommend import sasrec

        return getattr(sasrec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
