"""``POST /v1/events``: a batch of behavioural events, idempotent by event id."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from pricepilot.service.deps import EventsKey, ServicesDep
from pricepilot.service.errors import AUTH_ERRORS, BODY_ERRORS
from pricepilot.service.fastpath import json_response, raw_body_doc
from pricepilot.service.ingest import ingest_body
from pricepilot.service.schemas import EventsRequest, EventsResponse

router = APIRouter(prefix="/v1/events", tags=["events"], responses=AUTH_ERRORS | BODY_ERRORS)


# the body is read, then validated in one pass with the write on one worker thread (service.fastpath)
@router.post("", response_model=EventsResponse, openapi_extra=raw_body_doc(EventsRequest))
async def post_events(request: Request, services: ServicesDep, _key: EventsKey) -> Response:
    """Store the events; a ``purchase`` with an ``offer_id`` (bought), or an ``offer_outcome`` with an
    ``offer_id`` and ``payload {"purchased": false}`` (shown, not bought), becomes that offer's outcome
    and the live policy learns from it. An offer has one outcome: a later event contradicting it is a
    422 naming its ``offer_id``."""
    s = services
    raw = await request.body()
    return json_response(
        await run_in_threadpool(ingest_body, raw, s.engine, s.state, s.settings, s.metrics, s.offers.journal)
    )
