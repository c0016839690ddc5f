"""Errors that routes turn into HTTP answers: a field-level 422, and 503 before a policy is live.

The ``*_ERRORS`` dictionaries document, in the OpenAPI schema, the answers a route may give besides its
own: a client (and Schemathesis) can then tell a documented refusal from a surprise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """An error answer that is not about one field: what went wrong and what to do."""

    detail: str


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


#: a route that needs an API key
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem("missing, unknown or revoked API key (send 'Authorization: Bearer <key>')"),
    403: _problem("the API key's scopes do not include this route's"),
}
#: a route that reads a JSON body
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem(
        "the body could not be read as JSON (e.g. not UTF-8); /v1/offers and /v1/events, which validate "
        "their raw body in one pass, answer 422 naming the body instead"
    ),
    413: _problem("the body is larger than the service's limit (PRICEPILOT_MAX_BODY_BYTES)"),
}
#: a route that needs a live policy
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: _problem("no version of the served policy is active yet"),
}


class FieldError(ValueError):
    """Bad input that passed schema validation (a missing feature, a day that goes back): a 422 that
    names the field by its location in the body, as FastAPI's own validation errors do."""

    def __init__(self, loc: Sequence[str | int], msg: str, source: str = "body") -> None:
        super().__init__(msg)
        self.loc = (source, *loc)
        self.msg = msg

    def detail(self) -> list[dict[str, object]]:
        return [{"loc": list(self.loc), "msg": self.msg, "type": "value_error"}]
