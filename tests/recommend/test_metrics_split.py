from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pricepilot.recommend import Interactions, hit_ranks, leave_last_out, ndcg_at_k, recall_at_k, top_k


def test_metrics_on_hand_built_rankings() -> None:
    ranked = np.array([[3, 1, 2], [0, 2, 1], [5, 6, 7], [9, 8, 4]])
    targets = np.array([3, 1, 4, 4])
    assert hit_ranks(ranked, targets).tolist() == [0, 2, -1, 2]
    assert recall_at_k(ranked, targets, 3) == pytest.approx(3 / 4)
    assert ndcg_at_k(ranked, targets, 3) == pytest.approx((1.0 + 2 / math.log2(4)) / 4)
    assert recall_at_k(ranked, targets, 1) == pytest.approx(1 / 4)
    assert ndcg_at_k(ranked, targets, 2) == pytest.approx(1 / 4)


def test_top_k_masks_seen_and_breaks_ties_by_index() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    seen = Interactions(np.array([0]), np.array([1]), np.array([0]), 2, 4).user_item_matrix()
    items, vals = top_k(scores, 2, seen, np.array([0, 1]))
    assert items.tolist() == [[2, 0], [0, 1]]
    assert vals[0].tolist() == [3.0, 1.0]
    with pytest.raises(ValueError, match="k must lie in"):
        top_k(scores, 5)


def test_leave_last_out_holds_out_each_users_latest() -> None:
    inter = Interactions(
        users=np.array([0, 0, 0, 1, 1, 2]),
        items=np.array([5, 6, 7, 1, 2, 3]),
        timestamps=np.array([30, 10, 20, 5, 5, 1]),
        n_users=3,
        n_items=8,
    )
    split = leave_last_out(inter)
    assert split.users.tolist() == [0, 1]  # user 2 has a single interaction: not tested
    assert split.items.tolist() == [5, 2]  # user 1's tie at t=5 goes to the later row
    assert sorted(zip(split.train.users.tolist(), split.train.items.tolist(), strict=True)) == [
        (0, 6),
        (0, 7),
        (1, 1),
        (2, 3),
    ]
    assert split.train.n_items == 8
    assert [s.tolist() for s in split.train.sequences()] == [[6, 7], [1], [3]]


def test_interactions_from_frame_and_bad_input() -> None:
    frame = pd.DataFrame(
        {
            "u": ["b", "a", "b"],
            "i": [10, 20, 10],
            "t": pd.to_datetime(["2001-01-02", "2001-01-01", "2001-01-03"]),
        }
    )
    inter, users, items = Interactions.from_frame(frame, "u", "i", "t")
    assert users.tolist() == ["a", "b"]
    assert items.tolist() == [10, 20]
    assert inter.users.tolist() == [1, 0, 1]
    assert inter.items.tolist() == [0, 1, 0]
    assert inter.timestamps[1] == 978307200
    with pytest.raises(ValueError, match="must lie in"):
        Interactions(np.array([0]), np.array([3]), np.array([0]), 1, 3)
    with pytest.raises(KeyError, match="not in frame"):
        Interactions.from_frame(frame, "user", "i", "t")
