from __future__ import annotations

import numpy as np
import pytest

from pricepilot.recommend import Interactions
from pricepilot.recommend.repeat import RepeatBuy, RepeatBuyConfig


def _log() -> Interactions:
    # user 0 bought item 3 twice (days 0, 1) and item 1 once (day 9); user 1 bought items 0 and 2
    users = np.array([0, 0, 0, 1, 1, 1, 1])
    items = np.array([3, 3, 1, 0, 2, 0, 2])
    times = np.array([0, 1, 9, 0, 0, 1, 1])
    return Interactions(users, items, times, 3, 5)


def test_own_items_first_by_count_then_popularity() -> None:
    model = RepeatBuy().fit(_log())
    items, scores = model.candidates(np.array([0, 2]), 5, exclude_seen=False)
    assert items[0].tolist() == [3, 1, 0, 2, 4]  # own: 3 (x2), 1 (x1); then popular 0, 2 (x2 each)
    np.testing.assert_allclose(scores[0], [1 + 2 / 3, 1 + 1 / 3, 2 / 7, 2 / 7, 0.0])
    assert items[1].tolist() == [0, 2, 3, 1, 4]  # a user without history gets popularity


def test_half_life_prefers_recent_items() -> None:
    model = RepeatBuy(RepeatBuyConfig(half_life=1.0)).fit(_log())
    items, scores = model.candidates(np.array([0]), 2, exclude_seen=False)
    assert items[0].tolist() == [1, 3]  # item 1 (day 9, weight 1) beats item 3 (2^-8 + 2^-9)
    own = np.array([1.0, 2.0**-8 + 2.0**-9])
    np.testing.assert_allclose(scores[0], 1.0 + own / own.sum())


def test_mixture_weighs_own_share_against_popularity() -> None:
    model = RepeatBuy(RepeatBuyConfig(own_weight=0.25)).fit(_log())
    scores = model.scores(np.array([0]))
    pop = np.array([2, 1, 2, 2, 0]) / 7
    own = np.array([0, 1, 0, 2, 0]) / 3
    np.testing.assert_allclose(scores[0], 0.25 * own + 0.75 * pop)
    items, _ = model.candidates(np.array([0]), 5, exclude_seen=False)
    assert items[0].tolist() == [3, 0, 2, 1, 4]  # item 1 (own 1/3, pop 1/7) falls below popular 0 and 2
    zero = RepeatBuy(RepeatBuyConfig(own_weight=0.0)).fit(_log()).scores(np.array([0, 1]))
    np.testing.assert_allclose(zero, np.vstack([pop, pop]))


def test_exclude_seen_leaves_only_new_items() -> None:
    items, _ = RepeatBuy().fit(_log()).candidates(np.array([0]), 3)
    assert items[0].tolist() == [0, 2, 4]


def test_config_and_fit_checks() -> None:
    with pytest.raises(ValueError, match="half_life must be positive"):
        RepeatBuyConfig(half_life=0.0)
    with pytest.raises(ValueError, match=r"own_weight must lie in \[0, 1\], got 1.5"):
        RepeatBuyConfig(own_weight=1.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        RepeatBuy().scores(np.array([0]))
