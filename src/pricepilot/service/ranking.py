"""The order of the offers answered: relevance (the candidates' order) blended with each offer's
expected objective at its served price (:func:`pricepilot.recommend.rerank`), a request at a time or
for many requests priced together. Only the answer's order depends on it, never what is decided,
guarded or logged.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pricepilot.recommend.rerank import RerankConfig, rank_checked
from pricepilot.types import FloatArray, IntArray


def rank_offers(
    purchase: FloatArray | None,
    prices: FloatArray,
    unit_costs: FloatArray,
    config: RerankConfig,
) -> tuple[IntArray, FloatArray]:
    """The answer's order of ``r`` requests' ``n`` offers each and their rank scores, by one
    :func:`pricepilot.recommend.rerank.rank_checked` call (arrays of shape (r, n), a row per request).

    Relevance is the candidates' order (``1 - i / n`` for the ``i``-th; the catalogue's candidates come
    most bought first); the expected objective is ``purchase`` (P(buy) at each served action) times the
    served price's margin or the price (``config.objective``). Without a purchase model (``purchase``
    None) or with ``config.blend`` 0, the candidates' order is kept, with the scores :func:`rerank`
    gives relevance alone (computed here directly: that path is the default and must stay cheap).

    Returns
    -------
    order : ndarray of shape (r, n), positions of each request's offers, best first
    scores : ndarray of shape (r, n), their blended scores in [0, 1]
    """
    r, n = prices.shape
    positions = np.arange(n, dtype=np.int64)
    if purchase is None or config.blend == 0.0:
        scores = (n - 1 - positions) / max(n - 1, 1)
        return np.tile(positions, (r, 1)), np.tile(scores, (r, 1))
    relevance = _relevance(r, n)
    gain = prices - unit_costs if config.objective == "profit" else prices
    return rank_checked(relevance, purchase * gain, config)  # the service's own, finite arrays


@lru_cache(maxsize=256)
def _relevance(r: int, n: int) -> FloatArray:
    """The relevance of ``r`` requests' ``n`` candidates each, ``1 - i / n`` for the ``i``-th: one
    read-only row broadcast to shape (r, n), built once per shape."""
    return np.broadcast_to(1.0 - np.arange(n, dtype=np.int64) / n, (r, n))


def rank_requests(
    purchase: FloatArray | None,
    prices: FloatArray,
    unit_costs: FloatArray,
    sizes: list[int],
    config: RerankConfig,
) -> list[tuple[IntArray, FloatArray]]:
    """:func:`rank_offers` of each request (``sizes[k]`` consecutive rows of the flat arrays), with
    one call for all the requests of one size."""
    n = sizes[0]
    if all(size == n for size in sizes):  # the usual case: one call on the arrays as they are
        r = len(sizes)
        order, scores = rank_offers(
            None if purchase is None else purchase.reshape(r, n),
            prices.reshape(r, n),
            unit_costs.reshape(r, n),
            config,
        )
        return list(zip(order, scores, strict=True))
    starts = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
    by_size: dict[int, list[int]] = {}
    for k, n in enumerate(sizes):
        by_size.setdefault(n, []).append(k)
    ranked: dict[int, tuple[IntArray, FloatArray]] = {}
    for n, which in by_size.items():
        rows = (starts[which][:, None] + np.arange(n)).ravel()
        order, scores = rank_offers(
            None if purchase is None else purchase[rows].reshape(-1, n),
            prices[rows].reshape(-1, n),
            unit_costs[rows].reshape(-1, n),
            config,
        )
        for j, k in enumerate(which):
            ranked[k] = (order[j], scores[j])
    return [ranked[k] for k in range(len(sizes))]
