"""Request and response bodies of the HTTP API (pydantic), kept apart from the domain records.

Every number must be finite (no NaN or infinity) and of its JSON type (no ``true`` for a count, no
``"3.5"`` for a price), and every object rejects unknown fields, so a bad request fails with a 422
naming the field before anything runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from pricepilot.store import EVENT_KINDS

MAX_INT = 2**63 - 1
FeatureName = Annotated[str, Field(min_length=1, max_length=128)]
Features = Annotated[dict[FeatureName, StrictFloat], Field(max_length=512)]
Id = Annotated[StrictInt, Field(ge=0, le=MAX_INT)]
#: what the store keeps as text: no NUL character (PostgreSQL refuses it in text columns)
NO_NUL = r"^[^\x00]*$"


def _in_utc(value: datetime) -> datetime:
    """The time in UTC; a ValueError (a 422 naming the field) when it has no timezone or UTC is out of
    range (e.g. ``0001-01-01T00:00:00+01:00``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a timezone, e.g. '2026-11-30T10:00:00Z'")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from None


UtcTime = Annotated[datetime, AfterValidator(_in_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Visitor(Strict):
    """A visitor: pseudonymous id, numeric features by name, and whether they opted out."""

    id: Id
    features: Features = Field(default_factory=dict)
    opted_out: StrictBool = False


class Candidate(Strict):
    """An item to price: list price and unit cost in the item's currency, item features by name."""

    item_id: Id
    list_price: StrictFloat = Field(gt=0, le=1e9)
    unit_cost: StrictFloat = Field(ge=0, le=1e9)
    features: Features = Field(default_factory=dict)


class PageContext(Strict):
    """Where the offer is shown; ``features`` are market or page features by name."""

    page: str = Field(default="", max_length=128)
    features: Features = Field(default_factory=dict)


class OfferRequest(Strict):
    """Ask for priced offers. With no ``candidates``, the ``k`` most popular items of the catalogue
    (``PUT /v1/items``) are priced.

    ``day`` is the day number of the offer (days since 1970-01-01 by default), used by the daily-change
    rule and the lowest-price reference.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "visitor": {"id": 42, "features": {"visitor_score": 0.5}, "opted_out": False},
                    "context": {"page": "home"},
                    "candidates": [
                        {
                            "item_id": 7,
                            "list_price": 19.99,
                            "unit_cost": 12.5,
                            "features": {"item_quality": 0.7},
                        },
                        {
                            "item_id": 9,
                            "list_price": 5.0,
                            "unit_cost": 3.0,
                            "features": {"item_quality": 0.2},
                        },
                    ],
                }
            ]
        }
    )

    visitor: Visitor
    context: PageContext = Field(default_factory=PageContext)
    candidates: list[Candidate] = Field(
        default_factory=list, max_length=1000, description="items to price; none: the catalogue's top ``k``"
    )
    k: StrictInt = Field(
        default=10, ge=1, le=100, description="recommended items to price when none are named"
    )
    day: StrictInt | None = Field(default=None, ge=0, le=10_000_000)


class OfferOut(BaseModel):
    """One offer as served."""

    offer_id: str
    item_id: int
    price: float
    list_price: float
    discount: float = Field(description="shown discount off the lowest price of the reference window")
    action: int = Field(description="index of the served price in the policy's ladder")
    propensity: float = Field(description="probability that this price is served, in (0, 1]")
    policy_version: str
    personalised: bool = Field(description="disclosure: the price was personalised for this visitor")
    explanation: str
    rank_score: float = Field(
        description="score the answer is ordered by, in [0, 1]: relevance (the candidates' order) "
        "blended with the expected objective at the served price (see Settings.rerank_blend)"
    )


class OfferResponse(BaseModel):
    """Offers in rank order, best first."""

    offers: list[OfferOut]


class EventIn(Strict):
    """A behavioural event. Two kinds close a served offer with its outcome, which the live policy learns
    from:

    - ``purchase`` naming an ``offer_id``: the offer was bought, ``units`` of it (``units`` 0 closes it
      as not bought);
    - ``offer_outcome`` naming an ``offer_id`` with ``payload {"purchased": false}``: the offer was shown
      and not bought (units, revenue, profit and reward 0; ``units``, if sent, must be 0).

    An offer has one outcome: the first recorded stands and retries change nothing; an event that
    contradicts it (a purchase of an offer closed as not bought, or the other way round) is refused with
    a 422 naming its ``offer_id``, and nothing of its batch is written.
    """

    event_id: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    kind: Literal[EVENT_KINDS] = Field(  # type: ignore[valid-type]
        description="``purchase`` or ``offer_outcome`` with an ``offer_id`` records that offer's outcome"
    )
    # AwareDatetime is checked in Rust (a Python validator per event costs more than the rest of the
    # event); the service converts it to UTC on ingestion (a 422 on this field when out of range)
    occurred_at: AwareDatetime = Field(description="when it happened, with a timezone (stored in UTC)")
    visitor_id: Id | None = None
    item_id: Id | None = None
    offer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=NO_NUL,
        description="the served offer a ``purchase`` or ``offer_outcome`` closes",
    )
    units: StrictInt = Field(default=1, ge=0, le=1_000_000, description="units bought (a purchase)")
    payload: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=64)


class EventsRequest(Strict):
    """A batch of events, written whole or not at all; a retried batch stores nothing twice."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "event_id": "ev-1",
                            "kind": "view",
                            "occurred_at": "2026-11-30T10:00:00Z",
                            "item_id": 7,
                        },
                        {
                            "event_id": "ev-2",
                            "kind": "cart",
                            "occurred_at": "2026-11-30T10:01:00+01:00",
                            "visitor_id": 42,
                            "item_id": 7,
                        },
                    ]
                }
            ]
        }
    )

    events: list[EventIn] = Field(min_length=1, max_length=10_000)


class EventsResponse(BaseModel):
    received: int
    stored: int = Field(description="events not stored before (the rest were duplicates)")
    outcomes: int = Field(description="outcomes newly joined to their offers")
    learned: int = Field(description="outcomes the live policy learned from")


class PolicyIn(Strict):
    """Register a trained policy: ``artifact`` is base64 of a packed saved policy directory
    (``pricepilot.service.state.build_artifact``); ``feature_names`` override the ones it carries."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[^@\x00]+$")
    artifact: str = Field(min_length=1, max_length=50_000_000)
    feature_names: list[FeatureName] | None = None


class PolicyOut(BaseModel):
    name: str
    version: int
    tag: str
    status: str
    created_at: datetime
    activated_at: datetime | None


class PolicyList(BaseModel):
    policies: list[PolicyOut]


class EstimateOut(BaseModel):
    """An off-policy estimate of a policy's value per offer (reward units), with its 95% interval and
    diagnostics; null where a number is undefined."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    effective_sample_size: float | None
    max_weight: float | None
    never_taken_share: float | None
    warnings: list[str]


class GateOut(BaseModel):
    """The promotion gate's verdict on the logged offers (see ``pricepilot.evaluation.gate``)."""

    promote: bool
    estimator: str
    alpha: float
    rounds: int = Field(description="logged offers with outcomes the policies were evaluated on")
    candidate: EstimateOut
    current: EstimateOut
    difference: float | None = Field(description="estimated gain per offer of the candidate")
    difference_low: float | None
    difference_high: float | None
    margin: float
    reasons: list[str]


class PromotionOut(PolicyOut):
    """The promoted version, with the gate's verdict (null when no gate ran) and why."""

    forced: bool = Field(description="promoted with force=true: the gate was skipped")
    gate: GateOut | None
    note: str


class PromotionRefusal(BaseModel):
    message: str
    gate: GateOut | None = Field(description="the gate's evidence, when it ran")


class PromotionRefused(BaseModel):
    """A 409 of the promote route: nothing was promoted."""

    detail: PromotionRefusal


class Health(BaseModel):
    status: str
    policy: str | None = None
    n_updates: int | None = None


class ItemIn(Candidate):
    """A catalogue item: list price and unit cost in the item's currency, numeric features by name."""


class ItemsRequest(Strict):
    """Items to insert or replace (whole) in the catalogue."""

    items: list[ItemIn] = Field(min_length=1, max_length=10_000)


class ItemsResponse(BaseModel):
    received: int
    stored: int = Field(description="items written (inserted or replaced)")
    catalog_size: int = Field(description="items in the catalogue afterwards")
