from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import rankdata

from pricepilot.recommend.rerank import (
    RerankConfig,
    blend_scores,
    expected_objective,
    normalise_rows,
    rank_checked,
    rerank,
)


def _case(seed: int = 0, n: int = 50, c: int = 12) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    relevance = rng.normal(size=(n, c))
    prob = rng.uniform(0.01, 0.6, size=(n, c))
    price = rng.uniform(5.0, 50.0, size=(n, c))
    cost = price * rng.uniform(0.3, 0.9, size=(n, c))
    return relevance, prob, price, cost


def test_expected_objective_is_probability_times_margin() -> None:
    prob = np.array([[0.5, 0.1], [1.0, 0.0]])
    price = np.array([10.0, 20.0])  # broadcast over visitors
    cost = np.array([[4.0, 5.0], [4.0, 5.0]])
    np.testing.assert_allclose(expected_objective(prob, price, cost), [[3.0, 1.5], [6.0, 0.0]])
    np.testing.assert_allclose(expected_objective(prob, price), [[5.0, 2.0], [10.0, 0.0]])


@pytest.mark.parametrize("normalisation", ["minmax", "rank"])
def test_blend_zero_is_relevance_order(normalisation: str) -> None:
    relevance, prob, price, cost = _case()
    cfg = RerankConfig(blend=0.0, normalisation=normalisation)  # type: ignore[arg-type]
    order, _ = rerank(relevance, prob, price, cost, cfg)
    np.testing.assert_array_equal(order, np.argsort(-relevance, axis=1, kind="stable"))


@pytest.mark.parametrize("normalisation", ["minmax", "rank"])
def test_blend_one_is_expected_objective_order(normalisation: str) -> None:
    relevance, prob, price, cost = _case(1)
    cfg = RerankConfig(blend=1.0, normalisation=normalisation)  # type: ignore[arg-type]
    order, scores = rerank(relevance, prob, price, cost, cfg, k=5)
    objective = prob * (price - cost)
    np.testing.assert_array_equal(order, np.argsort(-objective, axis=1, kind="stable")[:, :5])
    assert order.shape == scores.shape == (50, 5)
    assert (np.diff(scores, axis=1) <= 0).all()
    revenue, _ = rerank(relevance, prob, price, cost, RerankConfig(blend=1.0, objective="revenue"))
    np.testing.assert_array_equal(revenue, np.argsort(-(prob * price), axis=1, kind="stable"))


def _pairs_agreeing(order: np.ndarray, key: np.ndarray) -> int:
    """Pairs of candidates (per row) that ``order`` puts in the order of ``key``, summed."""
    ranked = np.take_along_axis(key, order, axis=1)
    return int(sum((ranked[:, i : i + 1] >= ranked[:, i + 1 :]).sum() for i in range(order.shape[1])))


@pytest.mark.parametrize("normalisation", ["minmax", "rank"])
def test_more_blend_moves_monotonically_towards_objective(normalisation: str) -> None:
    relevance, prob, price, cost = _case(2)
    objective = prob * (price - cost)
    agree_obj, agree_rel = [], []
    for blend in np.linspace(0.0, 1.0, 11):
        cfg = RerankConfig(blend=float(blend), normalisation=normalisation)  # type: ignore[arg-type]
        order, _ = rerank(relevance, prob, price, cost, cfg)
        agree_obj.append(_pairs_agreeing(order, objective))
        agree_rel.append(_pairs_agreeing(order, relevance))
    assert all(b >= a for a, b in itertools.pairwise(agree_obj))
    assert all(b <= a for a, b in itertools.pairwise(agree_rel))
    assert agree_obj[-1] > agree_obj[0]


def test_raising_one_candidates_objective_never_lowers_it() -> None:
    relevance, prob, price, cost = _case(3, n=1, c=8)
    cfg = RerankConfig(blend=0.4)
    before, _ = rerank(relevance, prob, price, cost, cfg)
    raised = prob.copy()
    raised[0, 5] = min(1.0, raised[0, 5] * 1.5)
    after, _ = rerank(relevance, raised, price, cost, cfg)
    assert int(np.flatnonzero(after[0] == 5)[0]) <= int(np.flatnonzero(before[0] == 5)[0])


def test_normalisation_makes_scales_comparable() -> None:
    rel = np.array([[1.0, 2.0, 3.0]])
    obj = np.array([[3000.0, 2000.0, 1000.0]])  # a thousand times larger, opposite order
    np.testing.assert_allclose(normalise_rows(obj), [[1.0, 0.5, 0.0]])
    np.testing.assert_allclose(normalise_rows(rel, "rank"), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(blend_scores(rel, obj, RerankConfig(blend=0.5)), [[0.5, 0.5, 0.5]])
    np.testing.assert_allclose(normalise_rows(np.ones((2, 3))), 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"purchase_prob": [[1.5, 0.1]]}, r"purchase_prob must lie in \[0, 1\]"),
        ({"price": [[1.0, np.nan]]}, r"price must be finite, got nan at \(0, 1\)"),
        ({"price": [[1.0, 2.0, 3.0]]}, "does not fit"),
        ({"relevance": [[1.0, 2.0, 3.0]]}, "they must agree"),
        ({"k": 3}, r"k must lie in 1..2"),
    ],
)
def test_rerank_rejects_bad_input(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "relevance": [[1.0, 2.0]],
        "purchase_prob": [[0.2, 0.1]],
        "price": [[1.0, 2.0]],
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        rerank(**args)  # type: ignore[arg-type]


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match=r"blend must lie in \[0, 1\], got 1.5"):
        RerankConfig(blend=1.5)
    with pytest.raises(ValueError, match="objective must be"):
        RerankConfig(objective="clicks")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalisation must be"):
        RerankConfig(normalisation="z")  # type: ignore[arg-type]


def _plain_normalise(scores: np.ndarray, how: str) -> np.ndarray:
    """normalise_rows as first written, masking every row."""
    if how == "rank":
        if scores.shape[1] == 1:
            return np.zeros_like(scores)
        return np.asarray((rankdata(scores, axis=1) - 1.0) / (scores.shape[1] - 1))
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 0.0)


def _plain_rank(
    relevance: np.ndarray, objective: np.ndarray, config: RerankConfig, k: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """rank_checked as first written: three sort keys, every row normalised on its own."""
    how, w = config.normalisation, config.blend
    rel, obj = _plain_normalise(relevance, how), _plain_normalise(objective, how)
    blended = rel if w == 0.0 else obj if w == 1.0 else (1.0 - w) * rel + w * obj
    c = relevance.shape[1]
    cols = np.broadcast_to(np.arange(c), relevance.shape)
    order = np.lexsort((cols, -relevance, -blended), axis=1)[:, : c if k is None else k]
    return order.astype(np.int64), np.take_along_axis(blended, order, axis=1)


@pytest.mark.parametrize("how", ["minmax", "rank"])
@pytest.mark.parametrize("blend", [0.0, 0.3, 1.0])
def test_rank_checked_is_bit_for_bit_the_plain_computation(how: str, blend: float) -> None:
    rng = np.random.default_rng(7)
    config = RerankConfig(blend=blend, normalisation=how)  # type: ignore[arg-type]
    for r, c in itertools.product([0, 1, 3, 8], [1, 2, 10]):
        relevance = rng.normal(size=(r, c))
        objective = rng.uniform(0.0, 5.0, size=(r, c))
        if r:
            relevance[0] = relevance[0, 0]  # a constant row: ties everywhere, nothing to scale
            objective[-1, : c // 2] = objective[-1, -1]  # ties in the objective
        shared = np.broadcast_to(1.0 - np.arange(c) / c, (r, c))  # the service's relevance
        for rel in (relevance, shared, np.round(relevance, 1)):
            for k in (None, c, max(c // 2, 1)):
                got, expected = (
                    rank_checked(rel, objective, config, k),
                    _plain_rank(rel, objective, config, k),
                )
                np.testing.assert_array_equal(got[0], expected[0], strict=True)
                np.testing.assert_array_equal(got[1], expected[1], strict=True)
        for scores in (np.vstack([relevance, [np.nan] * c, objective]), relevance):
            np.testing.assert_array_equal(
                normalise_rows(scores, how),  # type: ignore[arg-type]
                _plain_normalise(scores, how),
                strict=True,
            )
