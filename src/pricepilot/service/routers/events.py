"""``POST /v1/events``: a batch of behavioural events, idempotent by event id."""

from __future__ import annotations

from fastapi import APIRouter

from pricepilot.service.deps import EventsKey, ServicesDep
from pricepilot.service.ingest import ingest_events
from pricepilot.service.schemas import EventsRequest, EventsResponse

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post("", response_model=EventsResponse)
def post_events(body: EventsRequest, services: ServicesDep, _key: EventsKey) -> EventsResponse:
    """Store the events; a ``purchase`` with an ``offer_id`` (bought), or an ``offer_outcome`` with an
    ``offer_id`` and ``payload {"purchased": false}`` (shown, not bought), becomes that offer's outcome
    and the live policy learns from it. An offer has one outcome: a later event contradicting it is a
    422 naming its ``offer_id``."""
    return ingest_events(body, services.engine, services.state, services.settings, services.metrics)
