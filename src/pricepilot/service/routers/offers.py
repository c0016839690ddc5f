"""``POST /v1/offers``: ranked, priced offers for a visitor."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from pricepilot.service.deps import OffersKey, ServicesDep
from pricepilot.service.errors import AUTH_ERRORS, BODY_ERRORS, NOT_READY
from pricepilot.service.fastpath import json_response, parse_body, raw_body_doc
from pricepilot.service.pricing import serve_offers_async
from pricepilot.service.schemas import OfferRequest, OfferResponse
from pricepilot.store import OfferLog

router = APIRouter(prefix="/v1/offers", tags=["offers"], responses=AUTH_ERRORS | BODY_ERRORS | NOT_READY)


# the body is read and validated in one pass, and documented as a body parameter (service.fastpath)
@router.post("", response_model=OfferResponse, openapi_extra=raw_body_doc(OfferRequest))
async def create_offers(request: Request, services: ServicesDep, _key: OffersKey) -> Response:
    """Price the candidates for the visitor with the live policy, inside the guardrails.

    Offers come back in the candidates' order, each with its price, discount, the served action's
    propensity, the policy version, a short explanation and whether the price was personalised. A
    request that names no candidates gets the ``k`` most bought items of the catalogue
    (``PUT /v1/items``), most bought first; with an empty catalogue it is a 422 on ``candidates``.
    """
    s = services
    body = parse_body(OfferRequest, await request.body())
    wanted = body if body.candidates else await run_in_threadpool(s.candidates.fill, body)
    answer = await serve_offers_async(wanted, s.state, OfferLog(s.engine), s.settings, s.metrics)
    return json_response(answer)
