"""``/healthz`` (the process answers), ``/readyz`` (a policy is live and the store answers), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from pricepilot.service.deps import ServicesDep
from pricepilot.service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(services: ServicesDep, response: Response) -> Health:
    """Ready when the store answers and a version of the configured policy is live (else 503)."""
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(status="store unavailable")
    if not services.state.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(status=f"no active version of policy {services.settings.policy_name!r}")
    live = services.state.current()
    return Health(status="ready", policy=live.tag, n_updates=live.n_updates)


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
