"""Features every contextual policy (ours and the peers') is fed, so comparisons are on equal terms.

- ``visit_features``: the context's numeric features with a leading constant, shape (n, d + 1).
- ``action_features``: what distinguishes the price actions, shape (n_actions, 3): log price multiple,
  its square, and the coupon flag.
- ``price_interactions``: visit features crossed with each action's log price multiple, shape
  (n, n_actions, 2 * (d + 1)) -- the design of a demand model whose price slope depends on the visitor
  and the moment.
"""

from __future__ import annotations

import numpy as np

from pricepilot.types import ContextBatch, FloatArray, PriceLadder

ACTION_FEATURE_NAMES = ("log_price_multiple", "log_price_multiple_sq", "coupon")


def visit_features(contexts: ContextBatch) -> FloatArray:
    """``[1, features]`` for each context, shape (n, d + 1)."""
    out = np.empty((contexts.n, contexts.n_features + 1))
    out[:, 0] = 1.0
    out[:, 1:] = contexts.features
    return out


def action_features(ladder: PriceLadder) -> FloatArray:
    """Features of each price action, shape (n_actions, 3): log multiple, its square, coupon flag."""
    lf = np.log(ladder.factors)
    return np.column_stack([lf, lf**2, ladder.is_coupon.astype(np.float64)])


def price_interactions(visit: FloatArray, ladder: PriceLadder) -> FloatArray:
    """Design of a price-response model: ``[z, z * log f_a]`` for every action ``a``.

    Parameters
    ----------
    visit : ndarray of shape (n, p), visit features (for example from :func:`visit_features`)

    Returns
    -------
    ndarray of shape (n, n_actions, 2 * p)
    """
    lf = np.log(ladder.factors)
    n, p = visit.shape
    out = np.empty((n, lf.size, 2 * p))
    out[:, :, :p] = visit[:, None, :]
    out[:, :, p:] = visit[:, None, :] * lf[None, :, None]
    return out
