"""``POST /v1/offers``: ranked, priced offers for a visitor."""

from __future__ import annotations

from fastapi import APIRouter

from pricepilot.service.deps import OffersKey, ServicesDep
from pricepilot.service.pricing import serve_offers
from pricepilot.service.schemas import OfferRequest, OfferResponse
from pricepilot.store import OfferLog

router = APIRouter(prefix="/v1/offers", tags=["offers"])


@router.post("", response_model=OfferResponse)
def create_offers(body: OfferRequest, services: ServicesDep, _key: OffersKey) -> OfferResponse:
    """Price the candidates for the visitor with the live policy, inside the guardrails.

    Offers come back in the candidates' order, each with its price, discount, the served action's
    propensity, the policy version, a short explanation and whether the price was personalised.
    Candidates are required: no recommender stands behind the API yet.
    """
    s = services
    offers = serve_offers(body, s.state, OfferLog(s.engine), s.settings, s.metrics)
    return OfferResponse(offers=offers)
