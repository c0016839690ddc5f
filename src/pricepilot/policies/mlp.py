"""A Q-network's forward pass in pure numpy, over one flat parameter vector.

The layout is shared with the torch network that trains it (``pricepilot.policies.dqn_torch``):
ReLU hidden layers, then either one linear head with a Q-value per action, or -- dueling (Wang et al.
2016) -- a value head and an advantage head combined by :func:`dueling_aggregate`. Parameters are
stored layer by layer, each weight matrix in torch's ``(out, in)`` order followed by its bias, so the
exported vector is the torch modules' parameters concatenated in registration order.
"""

from __future__ import annotations

import numpy as np

from pricepilot.types import FloatArray


def layer_shapes(
    n_inputs: int, hidden_sizes: tuple[int, ...], n_actions: int, dueling: bool
) -> list[tuple[int, int]]:
    """``(out, in)`` of every linear layer: the hidden layers, then the head(s).

    With ``dueling`` the last two layers are the value head ``(1, h)`` and the advantage head
    ``(n_actions, h)``; otherwise the last layer is the Q head ``(n_actions, h)``.
    """
    shapes: list[tuple[int, int]] = []
    width = n_inputs
    for h in hidden_sizes:
        shapes.append((h, width))
        width = h
    if dueling:
        shapes.extend([(1, width), (n_actions, width)])
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


def q_forward(params: FloatArray, x: FloatArray, shapes: list[tuple[int, int]], dueling: bool) -> FloatArray:
    """Q-values of every action for each input row.

    Parameters
    ----------
    params : ndarray of shape (n_parameters(shapes),), float64
    x : ndarray of shape (n, n_inputs)
    shapes : the layout from :func:`layer_shapes`
    dueling : whether the last two layers are value and advantage heads

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
    return np.asarray(h @ w.T + b, dtype=np.float64)
