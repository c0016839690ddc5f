"""Request and response bodies of the HTTP API (pydantic), kept apart from the domain records.

Every number must be finite (no NaN or infinity) and every object rejects unknown fields, so a bad
request fails with a 422 naming the field before anything runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pricepilot.store import EVENT_KINDS

MAX_INT = 2**63 - 1
FeatureName = Annotated[str, Field(min_length=1, max_length=128)]
Features = Annotated[dict[FeatureName, float], Field(max_length=512)]
Id = Annotated[int, Field(ge=0, le=MAX_INT)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Visitor(Strict):
    """A visitor: pseudonymous id, numeric features by name, and whether they opted out."""

    id: Id
    features: Features = Field(default_factory=dict)
    opted_out: bool = False


class Candidate(Strict):
    """An item to price: list price and unit cost in the item's currency, item features by name."""

    item_id: Id
    list_price: float = Field(gt=0, le=1e9)
    unit_cost: float = Field(ge=0, le=1e9)
    features: Features = Field(default_factory=dict)


class PageContext(Strict):
    """Where the offer is shown; ``features`` are market or page features by name."""

    page: str = Field(default="", max_length=128)
    features: Features = Field(default_factory=dict)


class OfferRequest(Strict):
    """Ask for priced offers. Candidates are required in this version (no recommender behind the API).

    ``day`` is the day number of the offer (days since 1970-01-01 by default), used by the daily-change
    rule and the lowest-price reference.
    """

    visitor: Visitor
    context: PageContext = Field(default_factory=PageContext)
    candidates: list[Candidate] = Field(min_length=1, max_length=1000)
    day: int | None = Field(default=None, ge=0, le=10_000_000)


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


class OfferResponse(BaseModel):
    """Offers in rank order."""

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

    event_id: str = Field(min_length=1, max_length=128)
    kind: Literal[EVENT_KINDS] = Field(  # type: ignore[valid-type]
        description="``purchase`` or ``offer_outcome`` with an ``offer_id`` records that offer's outcome"
    )
    occurred_at: datetime
    visitor_id: Id | None = None
    item_id: Id | None = None
    offer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="the served offer a ``purchase`` or ``offer_outcome`` closes",
    )
    units: int = Field(default=1, ge=0, le=1_000_000, description="units bought (a purchase)")
    payload: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=64)


class EventsRequest(Strict):
    events: list[EventIn] = Field(min_length=1, max_length=10_000)


class EventsResponse(BaseModel):
    received: int
    stored: int = Field(description="events not stored before (the rest were duplicates)")
    outcomes: int = Field(description="outcomes newly joined to their offers")
    learned: int = Field(description="outcomes the live policy learned from")


class PolicyIn(Strict):
    """Register a trained policy: ``artifact`` is base64 of a packed saved policy directory
    (``pricepilot.service.state.build_artifact``); ``feature_names`` override the ones it carries."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[^@]+$")
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


class Health(BaseModel):
    status: str
    policy: str | None = None
    n_updates: int | None = None
