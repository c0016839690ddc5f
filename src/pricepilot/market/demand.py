"""Ground-truth purchase probability: pure functions of the hidden state and the price action.

The log-odds of a purchase are::

    u = base - slope * log(f) + salience * coupon + gain * max(r - log f, 0) - loss * max(log f - r, 0)

where ``f`` is the price as a multiple of list price, ``base`` holds the visitor's taste and loyalty,
the item's quality, season, promotion and the competitor's price, ``slope`` is the visitor's price
sensitivity plus the competitor weight, and ``r`` is the visitor's reference log price. Loss aversion
(``loss > gain``) makes prices above the reference hurt more than equal savings help.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.types import FloatArray


@dataclass(frozen=True, slots=True)
class PriceResponse:
    """Global response parameters: coupon salience and reference-price gain and loss slopes."""

    salience: float = 0.0
    gain: float = 0.0
    loss: float = 0.0

    @property
    def uses_reference(self) -> bool:
        return self.gain != 0.0 or self.loss != 0.0


def sigmoid(x: FloatArray) -> FloatArray:
    """The logistic function, computed without overflow warnings."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def log_odds(
    base: FloatArray,
    slope: FloatArray,
    reference: FloatArray,
    log_factor: FloatArray,
    coupon: FloatArray,
    response: PriceResponse,
) -> FloatArray:
    """Purchase log-odds; all arguments broadcast (for example (n, 1) against (1, k))."""
    u = base - slope * log_factor
    if response.salience:
        u = u + response.salience * coupon
    if response.uses_reference:
        gap = log_factor - reference
        u = u - response.loss * np.maximum(gap, 0.0) + response.gain * np.maximum(-gap, 0.0)
    return u


def purchase_probabilities(
    base: FloatArray,
    slope: FloatArray,
    reference: FloatArray,
    log_factors: FloatArray,
    coupons: FloatArray,
    response: PriceResponse,
) -> FloatArray:
    """P(buy) of every action for every visit.

    Parameters
    ----------
    base, slope, reference : ndarray of shape (n,)
    log_factors, coupons : ndarray of shape (k,), log price multiple and coupon flag (0/1) per action

    Returns
    -------
    ndarray of shape (n, k)
    """
    u = log_odds(
        base[:, None], slope[:, None], reference[:, None], log_factors[None, :], coupons[None, :], response
    )
    return sigmoid(u)


def chosen_probability(
    base: FloatArray,
    slope: FloatArray,
    reference: FloatArray,
    log_factor: FloatArray,
    coupon: FloatArray,
    response: PriceResponse,
) -> FloatArray:
    """P(buy) of one chosen action per visit; every argument has shape (n,)."""
    return sigmoid(log_odds(base, slope, reference, log_factor, coupon, response))
