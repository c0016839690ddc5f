"""Dependencies of the routes: the app's services and API-key checks by scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from pricepilot.service.auth import ApiKey
from pricepilot.service.batching import Batcher
from pricepilot.service.candidates import CandidateSource
from pricepilot.service.keycache import cached_key
from pricepilot.service.metrics import Metrics
from pricepilot.service.settings import Settings
from pricepilot.service.state import LiveState


@dataclass(frozen=True)
class Services:
    """What one app holds: its settings, the store's engine, the live policy, the metrics, the
    source of candidates for requests that name none, and the batcher that prices and logs offers."""

    settings: Settings
    engine: Engine
    state: LiveState
    metrics: Metrics
    candidates: CandidateSource
    offers: Batcher


async def get_services(request: Request) -> Services:  # async: no worker-thread hop per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="an API key from `pricepilot keys create`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require(scope: str) -> Callable[[ServicesDep, Credentials], Awaitable[ApiKey]]:
    """A dependency that lets a request through only with a key holding ``scope`` (401, else 403)."""

    async def check(services: ServicesDep, credentials: Credentials) -> ApiKey:  # no thread hop
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = await cached_key(services.engine, credentials.credentials)  # see keycache: TTL
        if key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"}
            )
        if not key.allows(scope):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this key's scopes {sorted(key.scopes)} do not include {scope!r}"
            )
        return key

    return check


OffersKey = Annotated[ApiKey, Depends(require("offers"))]
EventsKey = Annotated[ApiKey, Depends(require("events"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
