"""``POST /v1/offers``: ranked, priced offers for a visitor."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from pricepilot.service.batching import serve_offers_async
from pricepilot.service.deps import OffersKey, ServicesDep
from pricepilot.service.errors import AUTH_ERRORS, BODY_ERRORS, NOT_READY
from pricepilot.service.fastpath import json_response, parse_body, raw_body_doc
from pricepilot.service.schemas import OfferRequest, OfferResponse

router = APIRouter(prefix="/v1/offers", tags=["offers"], responses=AUTH_ERRORS | BODY_ERRORS | NOT_READY)


# the body is read and validated in one pass, and documented as a body parameter (service.fastpath)
@router.post("", response_model=OfferResponse, openapi_extra=raw_body_doc(OfferRequest))
async def create_offers(request: Request, services: ServicesDep, _key: OffersKey) -> Response:
    """Price the candidates for the visitor with the live policy, inside the guardrails.

    Offers come back ranked, best first, each with its price, discount, the served action's
    propensity, the policy version, a short explanation, whether the price was personalised and its
    ``rank_score``. A request that names no candidates gets the ``k`` most bought items of the
    catalogue (``PUT /v1/items``), most bought first; with an empty catalogue it is a 422 on
    ``candidates``.

    Ranking: relevance is the candidates' order (most bought first for the catalogue's); when the live
    policy has a purchase model (``logistic_ts``, ``neural_linear``), each offer's expected objective
    at its served price, P(buy) from the policy's posterior mean times the margin (or the price, for a
    revenue objective), is blended in with weight ``PRICEPILOT_RERANK_BLEND`` (default 0.5; 0 keeps
    the candidates' order; 1 orders by expected objective alone). Other policies keep the
    candidates' order. The log, propensities and guardrails do not depend on the order.
    """
    s = services
    body = parse_body(OfferRequest, await request.body())
    wanted = body if body.candidates else await run_in_threadpool(s.candidates.fill, body)
    answer = await serve_offers_async(wanted, s.offers)
    return json_response(answer)
