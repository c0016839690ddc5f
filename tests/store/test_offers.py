from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from pricepilot.store import Offer, OfferLog, Outcome, StoreError
from pricepilot.store.schema import offers

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def make_offer(i: int, version: str = "lints@1", n_actions: int = 5) -> Offer:
    return Offer(
        offer_id=f"of-{i}",
        visitor_id=100 + i,
        item_id=i % 3,
        features=(0.5 * i, 1.0, -2.0),
        feature_names=("recency", "bias", "competitor_gap"),
        action=i % n_actions,
        n_actions=n_actions,
        price=10.0 * (0.8 + 0.1 * (i % n_actions)),
        list_price=10.0,
        propensity=0.2 + 0.1 * (i % 3),
        policy_version=version,
        unit_cost=6.0,
        created_at=T0 + timedelta(seconds=i),
    )


def make_outcome(i: int) -> Outcome:
    bought = i % 2 == 0
    return Outcome(
        f"of-{i}", bought, int(bought), 9.0 * bought, 3.0 * bought, 3.0 * bought, T0 + timedelta(minutes=i)
    )


def test_offers_round_trip_and_join_with_outcomes(engine: Engine) -> None:
    log = OfferLog(engine)
    sent = [make_offer(i) for i in range(6)]
    assert log.log(sent) == 6
    assert log.log(sent[:2]) == 0
    assert log.record_outcomes([make_outcome(i) for i in range(4)]) == 4
    assert log.record_outcomes([make_outcome(0)]) == 0
    assert log.count() == (6, 4)
    joined = log.joined()
    assert [j.offer for j in joined] == sent
    assert [j.outcome for j in joined] == [make_outcome(i) for i in range(4)] + [None, None]


def test_join_filters_by_version_and_time(engine: Engine) -> None:
    log = OfferLog(engine)
    log.log([make_offer(i, "a@1") for i in range(4)] + [make_offer(i, "a@2") for i in range(4, 8)])
    assert [j.offer.offer_id for j in log.joined("a@2")] == ["of-4", "of-5", "of-6", "of-7"]
    window = log.joined(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=5))
    assert [j.offer.offer_id for j in window] == ["of-2", "of-3", "of-4"]


def test_outcome_batch_naming_an_unknown_offer_writes_nothing(engine: Engine) -> None:
    log = OfferLog(engine)
    log.log([make_offer(i) for i in range(3)])
    batch = [make_outcome(0), make_outcome(1), Outcome("nope", False, 0, 0.0, 0.0, 0.0), make_outcome(2)]
    with pytest.raises(StoreError, match=r"never logged, for example \['nope'\]"):
        log.record_outcomes(batch)
    assert log.count() == (3, 0)


def test_database_checks_back_up_the_records(engine: Engine) -> None:
    row = {c.name: getattr(make_offer(1), c.name) for c in offers.columns}
    row |= {"features": [0.5, 1.0, -2.0], "feature_names": ["a", "b", "c"], "propensity": 0.0}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(offers).values(row))
    assert OfferLog(engine).count() == (0, 0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"propensity": 0.0}, r"propensity must be in \(0, 1\]"),
        ({"propensity": 1.5}, r"propensity must be in \(0, 1\]"),
        ({"action": 5}, "action 5 is outside 0..4"),
        ({"features": (1.0, 2.0)}, "2 features but 3 names"),
        ({"features": (1.0, float("nan"), 0.0)}, "feature 'bias' must be a finite number"),
        ({"list_price": 0.0}, "list_price > 0"),
        ({"policy_version": ""}, "policy_version is empty"),
        ({"created_at": datetime(2026, 1, 1)}, "has no timezone"),
    ],
)
def test_bad_offers_are_refused_when_built(change: dict[str, object], match: str) -> None:
    fields = {name: getattr(make_offer(1), name) for name in Offer.__dataclass_fields__}
    with pytest.raises(StoreError, match=match):
        Offer(**(fields | change))
