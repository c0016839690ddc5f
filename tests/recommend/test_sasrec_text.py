from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from pricepilot.recommend import Interactions
from pricepilot.recommend.sasrec import SASRec, SASRecConfig

N_GROUPS, PER_GROUP, N_COLD = 4, 12, 3
N_ITEMS = N_GROUPS * PER_GROUP
GROUP = np.arange(N_ITEMS) // PER_GROUP
COLD = np.flatnonzero(np.arange(N_ITEMS) % PER_GROUP >= PER_GROUP - N_COLD)  # last 3 of each group


def _taste_groups(n_users: int = 120, length: int = 10, seed: int = 0) -> Interactions:
    """Users of 4 taste groups, each buying only warm items of its own group."""
    rng = np.random.default_rng(seed)
    warm = np.setdiff1d(np.arange(N_ITEMS), COLD)
    users, items = [], []
    for u in range(n_users):
        mine = warm[GROUP[warm] == u % N_GROUPS]
        users += [u] * length
        items += rng.choice(mine, length).tolist()
    return Interactions(
        np.array(users), np.array(items), np.tile(np.arange(length), n_users), n_users, N_ITEMS
    )


def _group_text(seed: int = 1, dim: int = 8) -> NDArray[np.float64]:
    """A 'title embedding' that says which group an item is in (one-hot plus noise), unit norm."""
    rng = np.random.default_rng(seed)
    text = np.zeros((N_ITEMS, dim))
    text[np.arange(N_ITEMS), GROUP] = 1.0
    text += 0.1 * rng.normal(size=text.shape)
    out: NDArray[np.float64] = text / np.linalg.norm(text, axis=1, keepdims=True)
    return out


_CFG = SASRecConfig(hidden=16, max_len=10, dropout=0.0, epochs=15, batch_size=32, lr=1e-2, id_dropout=0.3)


def _cold_group_accuracy(model: SASRec, inter: Interactions) -> float:
    """Share of users whose best-scored cold item is of their own group."""
    users = np.arange(inter.n_users)
    cold_scores = model.scores(users)[:, COLD]
    best = COLD[np.argmax(cold_scores, axis=1)]
    return float(np.mean(GROUP[best] == users % N_GROUPS))


def test_text_lets_sasrec_rank_items_unseen_in_training() -> None:
    inter = _taste_groups()
    text_model = SASRec(_CFG, item_text=_group_text()).fit(inter)
    assert text_model.trained_items_ is not None
    assert not text_model.trained_items_[COLD].any()
    assert _cold_group_accuracy(text_model, inter) > 0.9
    id_model = SASRec(dataclasses.replace(_CFG, id_dropout=0.0)).fit(inter)
    assert _cold_group_accuracy(id_model, inter) < 0.6


def test_text_sasrec_reproduces_and_trains_with_bce() -> None:
    inter = _taste_groups(n_users=24)
    cfg = SASRecConfig(hidden=8, max_len=6, epochs=2, batch_size=16, id_dropout=0.2, seed=3)
    a = SASRec(cfg, item_text=_group_text()).fit(inter).scores(np.arange(3))
    b = SASRec(cfg, item_text=_group_text()).fit(inter).scores(np.arange(3))
    np.testing.assert_array_equal(a, b)
    bce_cfg = SASRecConfig(hidden=8, max_len=6, epochs=2, loss="bce", id_dropout=0.2)
    bce = SASRec(bce_cfg, item_text=_group_text()).fit(inter)
    assert bce.scores(np.arange(2)).shape == (2, N_ITEMS)
    assert np.isfinite(bce.losses_).all()


def test_text_sasrec_rejects_bad_text() -> None:
    inter = _taste_groups(n_users=8)
    with pytest.raises(ValueError, match="item_text has 5 rows but the interactions have 48 items"):
        SASRec(_CFG, item_text=np.ones((5, 4))).fit(inter)
    with pytest.raises(ValueError, match="finite array"):
        SASRec(_CFG, item_text=np.full((N_ITEMS, 4), np.nan))
    with pytest.raises(ValueError, match=r"id_dropout must lie in \[0, 1\), got 1.0"):
        SASRecConfig(id_dropout=1.0)
