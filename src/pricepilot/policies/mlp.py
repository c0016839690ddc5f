"""A Q-network's forward pass in pure numpy, over one flat parameter vector.

The layout is shared with the torch network that trains it (``pricepilot.policies.dqn_torch``):
ReLU hidden layers, then either one linear head with a Q-value per action, or -- dueling (Wang et al.
2016) -- a value head and an advantage head combined by :func:`dueling_aggregate`, or -- value-weighted
-- one head of ``2 * n_actions`` outputs ``(A, B)`` combined with the input's last ``n_actions`` columns
``v`` (each action's value if bought over the list price) as ``Q = v * A + B`` (:func:`value_weighted`),
or -- purchase-decomposed -- one head of ``2 * n_actions + 1`` outputs: purchase logits, continuation
values and a log price scale, combined as ``Q = exp(log_scale) * sigmoid(logit) * v + C``
(:func:`purchase_decomposed`).
Parameters are stored layer by layer, each weight matrix in torch's ``(out, in)`` order followed by its
bias, so the exported vector is the torch modules' parameters concatenated in registration order.
"""

from __future__ import annotations

import numpy as np

from pricepilot.types import FloatArray


def layer_shapes(
    n_inputs: int,
    hidden_sizes: tuple[int, ...],
    n_actions: int,
    dueling: bool,
    value_weighted: bool = False,
    purchase_head: bool = False,
) -> list[tuple[int, int]]:
    """``(out, in)`` of every linear layer: the hidden layers, then the head(s).

    With ``dueling`` the last two layers are the value head ``(1, h)`` and the advantage head
    ``(n_actions, h)``; with ``value_weighted`` the last layer is ``(2 * n_actions, h)``; with
    ``purchase_head`` it is ``(2 * n_actions + 1, h)``; otherwise it is the Q head ``(n_actions, h)``.
    """
    if dueling + value_weighted + purchase_head > 1:
        raise ValueError("a Q-network head is at most one of dueling, value-weighted and purchase-decomposed")
    shapes: list[tuple[int, int]] = []
    width = n_inputs
    for h in hidden_sizes:
        shapes.append((h, width))
        width = h
    if dueling:
        shapes.extend([(1, width), (n_actions, width)])
    elif value_weighted:
        shapes.append((2 * n_actions, width))
    elif purchase_head:
        shapes.append((2 * n_actions + 1, width))
    else:
        shapes.append((n_actions, width))
    return shapes


def n_parameters(shapes: list[tuple[int, int]]) -> int:
    """Length of the flat parameter vector for these layers (weights and biases)."""
    return sum(o * i + o for o, i in shapes)


def unpack(params: FloatArray, shapes: list[tuple[int, int]]) -> list[tuple[FloatArray, FloatArray]]:
    """Views ``(weight (out, in), bias (out,))`` of each layer into the flat ``params``."""
    if params.shape != (n_parameters(shapes),):
        raise ValueError(
            f"expected {n_parameters(shapes)} parameters for layers {shapes}, got {params.shape}"
        )
    layers = []
    at = 0
    for o, i in shapes:
        w = params[at : at + o * i].reshape(o, i)
        at += o * i
        b = params[at : at + o]
        at += o
        layers.append((w, b))
    return layers


def dueling_aggregate(value: FloatArray, advantage: FloatArray) -> FloatArray:
    """``Q = V + A - mean_a A``: value of shape (n, 1) and advantages (n, n_actions) to Q (n, n_actions).

    Subtracting the mean advantage makes the split identifiable (Wang et al. 2016, eq. 9).
    """
    return np.asarray(value + advantage - advantage.mean(axis=1, keepdims=True), dtype=np.float64)


def value_weighted(x: FloatArray, head: FloatArray) -> FloatArray:
    """``Q = v * A + B``: the head's outputs (n, 2 * n_actions) split into ``A`` and ``B``, and ``v`` the
    last ``n_actions`` columns of the input ``x`` (n, d), each action's value if bought over the list
    price in the layout of ``ContextBatch.observations()``.

    The immediate expected reward is exactly ``v * list_price * P(buy)``, so ``A`` need only learn
    ``list_price * P(buy)`` and ``B`` what follows the visit (the discounted future).
    """
    k = head.shape[1] // 2
    if x.shape[1] < k:
        raise ValueError(
            f"a value-weighted head needs the last {k} input columns as values, got {x.shape[1]}"
        )
    return np.asarray(x[:, -k:] * head[:, :k] + head[:, k:], dtype=np.float64)


def sigmoid(z: FloatArray) -> FloatArray:
    """The logistic function ``1 / (1 + exp(-z))``, written with ``tanh`` so it never overflows."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64))), dtype=np.float64)


def purchase_decomposed(x: FloatArray, head: FloatArray) -> FloatArray:
    """``Q = exp(s) * sigmoid(z) * v + C``: a purchase-decomposed head to Q-values (n, k).

    Parameters
    ----------
    x : ndarray of shape (n, d), the network's input; its last ``k`` columns ``v`` are each action's value
        if bought over the list price (the layout of ``ContextBatch.observations()``)
    head : ndarray of shape (n, 2 * k + 1), the head's outputs: ``z`` (k purchase logits: P(buy) =
        ``sigmoid(z)``), ``C`` (k continuation values: the discounted value of what follows the visit)
        and ``s`` (1 column: the log of the list price, in training reward units), in that order

    Returns
    -------
    ndarray of shape (n, k): expected immediate reward ``list price * v * P(buy)`` plus continuation
    """
    k = (head.shape[1] - 1) // 2
    if head.shape[1] != 2 * k + 1 or x.shape[1] < k:
        raise ValueError(
            f"a purchase-decomposed head needs 2 * k + 1 outputs and k value columns, got {head.shape[1]} "
            f"outputs and {x.shape[1]} input columns"
        )
    values = np.asarray(x[:, -k:], dtype=np.float64)
    return np.asarray(
        np.exp(head[:, 2 * k :]) * sigmoid(head[:, :k]) * values + head[:, k : 2 * k], dtype=np.float64
    )


def reference_gaps(x: FloatArray, column: int, log_factors: FloatArray) -> FloatArray:
    """Inputs with each price's distance from the reference: ``x`` (n, d) to (n, d + 2 * k).

    For each of the ``k`` ladder prices, ``max(log f - r, 0)`` (how far it lies above the visitor's
    reference log price ``r = x[:, column]``, a loss) and ``max(r - log f, 0)`` (below it, a gain): the
    two terms through which a reference price moves demand. They are inserted before the last ``k``
    columns, so those stay each action's value (the layout :func:`value_weighted` reads).

    Parameters
    ----------
    x : ndarray of shape (n, d), observations (features, then ``k`` values if bought)
    column : index of the reference log price (relative to list price) in ``x``
    log_factors : ndarray of shape (k,), log of each action's price as a multiple of list price
    """
    k = log_factors.size
    if not 0 <= column < x.shape[1] - k:
        raise ValueError(
            f"the reference column must index one of the {x.shape[1] - k} features before the "
            f"{k} values, got {column}"
        )
    gap = log_factors[None, :] - x[:, column : column + 1]
    return np.concatenate([x[:, :-k], np.maximum(gap, 0.0), np.maximum(-gap, 0.0), x[:, -k:]], axis=1)


def q_forward(
    params: FloatArray,
    x: FloatArray,
    shapes: list[tuple[int, int]],
    dueling: bool,
    value_weighted_head: bool = False,
    purchase_head: bool = False,
) -> FloatArray:
    """Q-values of every action for each input row.

    Parameters
    ----------
    params : ndarray of shape (n_parameters(shapes),), float64
    x : ndarray of shape (n, n_inputs)
    shapes : the layout from :func:`layer_shapes`
    dueling : whether the last two layers are value and advantage heads
    value_weighted_head : whether the head is value-weighted (:func:`value_weighted`)
    purchase_head : whether the head is purchase-decomposed (:func:`purchase_decomposed`)

    Returns
    -------
    ndarray of shape (n, n_actions), float64, in the units the network was trained on
    """
    layers = unpack(params, shapes)
    n_heads = 2 if dueling else 1
    h = np.asarray(x, dtype=np.float64)
    for w, b in layers[:-n_heads]:
        h = np.maximum(h @ w.T + b, 0.0)
    if dueling:
        (wv, bv), (wa, ba) = layers[-2:]
        return dueling_aggregate(h @ wv.T + bv, h @ wa.T + ba)
    w, b = layers[-1]
    if value_weighted_head:
        return value_weighted(np.asarray(x, dtype=np.float64), h @ w.T + b)
    if purchase_head:
        return purchase_decomposed(np.asarray(x, dtype=np.float64), h @ w.T + b)
    return np.asarray(h @ w.T + b, dtype=np.float64)
