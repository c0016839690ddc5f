"""Export logged offers and their outcomes as :class:`~pricepilot.data.logged.LoggedData`, the record
off-policy evaluation reads.

Column mapping: ``features`` → features (names from ``feature_names``), ``action`` → actions,
``propensity`` → propensities, outcome ``reward`` → rewards, ``purchased``, ``list_price``,
``unit_cost``, ``item_id`` and ``visitor_id`` as they are, and ``n_actions``. Given the ladder and the
objective the logs were served under, ``value_if_bought`` is rebuilt as well, so that a candidate
policy can act on the logged contexts (``LoggedData.contexts``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import numpy as np
from sqlalchemy.engine import Engine

from pricepilot.data.logged import LoggedData, ladder_action_features
from pricepilot.store.engine import StoreError
from pricepilot.store.offers import OfferLog
from pricepilot.types import Objective, PriceLadder


def export_logged(
    engine: Engine,
    *,
    policy_version: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    unanswered: Literal["drop", "no_sale"] = "drop",
    ladder: PriceLadder | None = None,
    objective: str | None = None,
) -> LoggedData:
    """Offers served in ``[since, until)`` (by ``policy_version`` if given) with their outcomes.

    Parameters
    ----------
    unanswered : 'drop' leaves out offers without a recorded outcome yet; 'no_sale' counts them as
        no purchase with reward 0 (where the shop reports purchases only).
    ladder : PriceLadder, optional, the ladder the offers were served with (its length must equal the
        logged ``n_actions``); with ``objective`` it rebuilds ``value_if_bought``.
    objective : str, optional, the objective the rewards measure (``Objective.named``).

    Raises
    ------
    StoreError
        When nothing matches, or the offers mix ladders or feature sets (export one policy version).
    """
    if unanswered not in ("drop", "no_sale"):
        raise StoreError(f"unanswered must be 'drop' or 'no_sale', got {unanswered!r}")
    rows = OfferLog(engine).joined(policy_version, since, until)
    if unanswered == "drop":
        rows = [r for r in rows if r.outcome is not None]
    if not rows:
        raise StoreError(
            f"no logged offers with outcomes match policy_version={policy_version!r}, "
            f"since={since}, until={until}"
        )
    first = rows[0].offer
    for r in rows:
        if r.offer.n_actions != first.n_actions or r.offer.feature_names != first.feature_names:
            raise StoreError(
                f"offers {first.offer_id!r} and {r.offer.offer_id!r} differ in n_actions or feature names; "
                "export one policy version at a time (policy_version=...)"
            )
    if ladder is not None and ladder.n_actions != first.n_actions:
        raise StoreError(f"the ladder has {ladder.n_actions} actions, the offers {first.n_actions}")
    n, d = len(rows), len(first.feature_names)
    list_prices = np.array([r.offer.list_price for r in rows], dtype=np.float64)
    costs = [r.offer.unit_cost for r in rows]
    unit_costs = None if any(c is None for c in costs) else np.array(costs, dtype=np.float64)
    value_if_bought = None
    if ladder is not None and objective is not None and unit_costs is not None:
        value_if_bought = Objective.named(objective).value_if_bought(
            ladder.prices(list_prices), unit_costs, reference_prices=list_prices
        )
    return LoggedData(
        features=np.array([r.offer.features for r in rows], dtype=np.float64).reshape(n, d),
        actions=np.array([r.offer.action for r in rows], dtype=np.int64),
        propensities=np.array([r.offer.propensity for r in rows], dtype=np.float64),
        rewards=np.array([r.outcome.reward if r.outcome else 0.0 for r in rows], dtype=np.float64),
        n_actions=first.n_actions,
        purchased=np.array([bool(r.outcome and r.outcome.purchased) for r in rows], dtype=bool),
        value_if_bought=value_if_bought,
        action_features=None if ladder is None else ladder_action_features(ladder),
        feature_names=first.feature_names,
        ladder=ladder,
        list_prices=list_prices,
        unit_costs=unit_costs,
        item_ids=np.array([r.offer.item_id for r in rows], dtype=np.int64),
        visitor_ids=np.array([r.offer.visitor_id for r in rows], dtype=np.int64),
        objective=objective,
    )
