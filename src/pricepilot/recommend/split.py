"""Leave-last-out split: each user's last interaction (by timestamp) is held out for testing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricepilot.recommend.base import Interactions
from pricepilot.types import IntArray


@dataclass(frozen=True, slots=True)
class LeaveLastOut:
    """A leave-last-out split.

    Attributes
    ----------
    train : Interactions, everything but the held-out rows (same index spaces)
    users : ndarray of shape (n_test,), the users with a held-out item, ascending
    items : ndarray of shape (n_test,), each such user's held-out (last) item
    """

    train: Interactions
    users: IntArray
    items: IntArray


def leave_last_out(interactions: Interactions, min_history: int = 1) -> LeaveLastOut:
    """Hold out each user's last interaction; ties in time go to the row that comes last.

    Only users with more than ``min_history`` interactions are tested (so that at least
    ``min_history`` remain to train on); the others stay whole in ``train``.
    """
    if min_history < 1:
        raise ValueError(f"min_history must be at least 1, got {min_history}")
    order = interactions.chronological()
    users = interactions.users[order]
    last = np.flatnonzero(np.r_[users[1:] != users[:-1], True]) if users.size else np.zeros(0, np.int64)
    counts = np.bincount(users, minlength=interactions.n_users)
    last = last[counts[users[last]] > min_history]
    held_rows = order[last]
    keep = np.ones(interactions.n, dtype=bool)
    keep[held_rows] = False
    train = interactions.take(np.flatnonzero(keep))
    return LeaveLastOut(train, interactions.users[held_rows], interactions.items[held_rows])
