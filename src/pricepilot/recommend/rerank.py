"""Price-aware re-ranking: order candidates by relevance blended with their expected objective.

For each visitor (a row) and candidate (a column), the expected objective is the purchase probability at
the price chosen for that candidate times what a sale earns: the margin ``price - unit_cost`` (profit)
or the price itself (revenue). Relevance (a recommender's score) and expected objective live on
different scales, so both are normalised within each row first (min-max to [0, 1], or ranks scaled to
[0, 1]); the blended score is ``(1 - blend) * relevance + blend * objective``. ``blend = 0`` keeps the
recommender's order, ``blend = 1`` orders by expected objective alone. Ties go to the higher relevance,
then to the lower column. Pure numpy, batched over rows: arrays of shape (n_visitors, n_candidates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from pricepilot.types import FloatArray, IntArray

Normalisation = Literal["minmax", "rank"]


@dataclass(frozen=True, slots=True)
class RerankConfig:
    """How :func:`rerank` blends relevance with expected objective.

    blend : weight of the expected objective, in [0, 1] (0: relevance order, 1: objective order)
    objective : ``"profit"`` (probability x (price - unit cost)) or ``"revenue"`` (probability x price)
    normalisation : ``"minmax"`` (each row's scores to [0, 1]; a constant row to 0) or ``"rank"`` (each
        row's ranks to [0, 1], ties averaged; robust to outliers)
    """

    blend: float = 0.5
    objective: Literal["profit", "revenue"] = "profit"
    normalisation: Normalisation = "minmax"

    def __post_init__(self) -> None:
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError(f"blend must lie in [0, 1], got {self.blend}")
        if self.objective not in ("profit", "revenue"):
            raise ValueError(f"objective must be 'profit' or 'revenue', got {self.objective!r}")
        if self.normalisation not in ("minmax", "rank"):
            raise ValueError(f"normalisation must be 'minmax' or 'rank', got {self.normalisation!r}")


def _matrix(name: str, value: ArrayLike, shape: tuple[int, ...] | None = None) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n_visitors, n_candidates), got {arr.shape}")
    if shape is not None:
        try:
            arr = np.broadcast_to(arr, shape)
        except ValueError:
            raise ValueError(f"{name} has shape {arr.shape}, which does not fit {shape}") from None
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, got {arr[bad]} at {bad}")
    return arr


def expected_objective(
    purchase_prob: ArrayLike,
    price: ArrayLike,
    unit_cost: ArrayLike | None = None,
) -> FloatArray:
    """Purchase probability times margin (``price - unit_cost``), or times price without costs.

    Parameters
    ----------
    purchase_prob : array of shape (n, c), probabilities in [0, 1] at the chosen prices
    price : array broadcastable to (n, c), the chosen unit prices, in the item's currency
    unit_cost : array broadcastable to (n, c), unit costs; ``None`` gives expected revenue

    Returns
    -------
    ndarray of shape (n, c), in currency units per shown candidate
    """
    prob = _matrix("purchase_prob", purchase_prob)
    if (prob < 0).any() or (prob > 1).any():
        raise ValueError(f"purchase_prob must lie in [0, 1], got {prob.min()}..{prob.max()}")
    gain = _matrix("price", price, prob.shape)
    if unit_cost is not None:
        gain = gain - _matrix("unit_cost", unit_cost, prob.shape)
    return prob * gain


def normalise_rows(scores: FloatArray, how: Normalisation = "minmax") -> FloatArray:
    """Each row of ``scores`` (shape (n, c)) mapped to [0, 1], order kept within the row."""
    if how == "rank":
        if scores.shape[1] == 1:
            return np.zeros_like(scores)
        return np.asarray((rankdata(scores, axis=1) - 1.0) / (scores.shape[1] - 1), dtype=np.float64)
    if how != "minmax":
        raise ValueError(f"normalisation must be 'minmax' or 'rank', got {how!r}")
    # the ufuncs' own reductions: a small batch's cost is numpy's per-call overhead, not its rows
    low = np.minimum.reduce(scores, axis=1, keepdims=True)
    span = np.maximum.reduce(scores, axis=1, keepdims=True) - low
    if span.size and np.minimum.reduce(span, axis=None) > 0.0:  # usual: no constant (nor NaN) row
        return np.asarray((scores - low) / span, dtype=np.float64)
    return np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 0.0)


def blend_scores(relevance: ArrayLike, objective: ArrayLike, config: RerankConfig) -> FloatArray:
    """``(1 - blend) * norm(relevance) + blend * norm(objective)``, shape (n, c)."""
    rel = _matrix("relevance", relevance)
    return _blend(rel, _matrix("objective", objective, rel.shape), config)


def _blend(rel: FloatArray, obj: FloatArray, config: RerankConfig) -> FloatArray:
    """:func:`blend_scores` on checked arrays of one shape."""
    how, w = config.normalisation, config.blend
    if w == 0.0:
        return normalise_rows(rel, how)
    if w == 1.0:
        return normalise_rows(obj, how)
    # rows of relevance that are one row broadcast (stride 0, as the service's are) are normalised
    # once: each row is normalised alone, and the sum broadcasts that row back over all of them
    shared = rel[:1] if rel.strides[0] == 0 else rel
    return (1.0 - w) * normalise_rows(shared, how) + w * normalise_rows(obj, how)


def rerank(
    relevance: ArrayLike,
    purchase_prob: ArrayLike,
    price: ArrayLike,
    unit_cost: ArrayLike | None = None,
    config: RerankConfig | None = None,
    k: int | None = None,
) -> tuple[IntArray, FloatArray]:
    """Order each visitor's candidates by blended relevance and expected objective.

    Parameters
    ----------
    relevance : array of shape (n, c), the recommender's scores of the candidates
    purchase_prob, price, unit_cost : see :func:`expected_objective` (``unit_cost`` is ignored when
        ``config.objective == "revenue"``)
    config : the blend; defaults to :class:`RerankConfig` ()
    k : keep the best ``k`` per row (default: all ``c``)

    Returns
    -------
    order : ndarray of shape (n, k), int64 column indices into the candidates, best first
    scores : ndarray of shape (n, k), their blended scores in [0, 1]
    """
    cfg = config or RerankConfig()
    rel = _matrix("relevance", relevance)
    costs = unit_cost if cfg.objective == "profit" else None
    obj = expected_objective(purchase_prob, price, costs)
    if obj.shape != rel.shape:
        raise ValueError(f"purchase_prob has shape {obj.shape}, relevance {rel.shape}: they must agree")
    c = rel.shape[1]
    k = c if k is None else k
    if not 1 <= k <= c:
        raise ValueError(f"k must lie in 1..{c} (the number of candidates), got {k}")
    return rank_checked(rel, obj, cfg, k)


def rank_checked(
    relevance: FloatArray, objective: FloatArray, config: RerankConfig, k: int | None = None
) -> tuple[IntArray, FloatArray]:
    """:func:`rerank` of inputs already checked: ``relevance`` and ``objective`` (the expected
    objective, as :func:`expected_objective` gives it) finite float arrays of one shape (n, c), ``k``
    in 1..c. For a caller that built them itself (the service's hot path); nothing is checked here.
    Ties go to relevance, then to the candidates' order."""
    blended = _blend(relevance, objective, config)
    r, c = relevance.shape
    # lexsort is stable and the candidates' own order is where it starts, so ties already go to the
    # lower column without a key of columns
    order = np.lexsort((-relevance, -blended), axis=1)[:, : c if k is None else k].astype(np.int64)
    return order, blended[np.arange(r)[:, None], order]
