"""``POST /v1/offers`` answered below the framework when all is well, by the documented route otherwise.

An offer request's own work (pricing ten candidates, logging them) costs less than what the framework's
layers around it cost (middleware, routing, dependency injection, a request object): on one worker the
layers decided how many offers a second it served. :class:`HotOffers` is a plain ASGI handler the app
(:class:`pricepilot.service.app.Service`) calls first for ``POST /v1/offers``. It answers a request
itself only when every check passes on its short path:

- a ``Content-Length`` within ``Settings.max_body_bytes`` (no streamed body);
- an API key with the ``offers`` scope found in the process's key cache
  (:func:`pricepilot.service.keycache.known_key`);
- a body that validates as :class:`pricepilot.service.schemas.OfferRequest` and names its candidates,
  no more than ``Settings.max_candidates``;
- a live policy that prices it (:class:`pricepilot.service.batching.Batcher`).

Anything else (a missing or unknown key, a bad body, no candidates, no live policy, a missing feature)
is handed, with the body it has read, to the framework's route, which answers it as documented (401,
403, 413, 422, 503, the catalogue's candidates): every refusal has one implementation, and nothing was
decided, recorded or logged for a request handed over. Once priced, the offers are made durable
(journaled or committed, see :mod:`pricepilot.service.batching`) before the answer, as on the route;
a failure to log them is a 500 (and its error is raised to the server, which logs it), as the
framework's error middleware answers it. The request's latency is observed in the
same histogram, under the route's template.
"""

from __future__ import annotations

from time import perf_counter

import orjson
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pricepilot.service.batching import LogError
from pricepilot.service.deps import Services
from pricepilot.service.keycache import known_key
from pricepilot.service.pricing import describe
from pricepilot.service.schemas import OfferRequest

PATH = "/v1/offers"
_JSON = [(b"content-type", b"application/json")]
_FAILED = b"Internal Server Error"


class HotOffers:
    """The short path of ``POST /v1/offers`` (see the module's docstring).

    Parameters
    ----------
    services : Services, the app's settings, store, live policy and metrics.
    route : ASGIApp, the framework's app, which answers every request the short path hands over.
    """

    def __init__(self, services: Services, route: ASGIApp) -> None:
        self.services = services
        self.route = route
        self._latency = {
            code: services.metrics.latency.labels(PATH, "POST", str(code)) for code in (200, 500)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = perf_counter()
        s = self.services
        length, token = _headers(scope)
        if length is None or length > s.settings.max_body_bytes or not self._allowed(token):
            await self.route(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:  # the client went away before sending its body
            return
        request = self._request(body)
        if request is None:
            await self.route(scope, _replay(body, receive), send)
            return
        try:
            priced = await s.offers.price(request)
        except LogError:  # priced (and recorded) but not logged: not to be priced again by the route
            await _send(send, 500, _FAILED, [(b"content-type", b"text/plain; charset=utf-8")])
            self._latency[500].observe(perf_counter() - start)
            raise
        except Exception:  # refused before anything was recorded: the route answers it as documented
            await self.route(scope, _replay(body, receive), send)
            return
        await _send(send, 200, orjson.dumps({"offers": describe(priced)}), _JSON)
        self._latency[200].observe(perf_counter() - start)

    def _allowed(self, token: str | None) -> bool:
        if token is None:
            return False
        found, key = known_key(self.services.engine, token)
        return found and key is not None and key.allows("offers")

    def _request(self, body: bytes) -> OfferRequest | None:
        """The body as an offer request the short path prices, or None where the route must answer."""
        try:
            request = OfferRequest.model_validate_json(body)
        except ValidationError:
            return None
        settings = self.services.settings
        if not request.candidates or len(request.candidates) > settings.max_candidates:
            return None
        return request


def _headers(scope: Scope) -> tuple[int | None, str | None]:
    """The request's ``Content-Length`` (None: absent or not a number) and bearer token (None: none)."""
    length: int | None = None
    token: str | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"authorization":
            scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
            token = credentials if scheme.lower() == "bearer" and credentials else None
    return length, token


async def _read(receive: Receive) -> bytes | None:
    """The whole body, or None when the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` (already read) first, then what the connection gives."""
    pending = True

    async def again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": length + headers})
    await send({"type": "http.response.body", "body": body})
