"""The hot routes' short path: the raw body validated in one pass, answers serialised once with orjson.

FastAPI reads a JSON body with the standard library, validates the resulting objects, runs a plain
``def`` endpoint (and validates its return value) on worker threads. ``POST /v1/offers`` and
``POST /v1/events`` skip all of that: their endpoints are ``async``, read the body's bytes and hand them
to pydantic's JSON validator (:func:`parse_body`: Rust, one pass, the same schema and the same 422
answer naming the field) and return a ready :func:`json_response`. They keep their documentation: the
route passes ``openapi_extra=raw_body_doc(Model)`` (the request body and its 422 answer, as FastAPI
documents a body parameter) and the app calls :func:`document_models` so that the schema's components
hold the models those bodies refer to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_PREFIX
from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema

M = TypeVar("M", bound=BaseModel)


def raw_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose endpoint reads a JSON body of ``model`` itself: the required
    request body and the 422 answer, as FastAPI writes them for a body parameter."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF_PREFIX + model.__name__}}},
        },
        "responses": {
            "422": {
                "description": "Validation Error",
                "content": {"application/json": {"schema": {"$ref": REF_PREFIX + "HTTPValidationError"}}},
            }
        },
    }


def document_models(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Have ``app``'s OpenAPI schema hold ``models`` (as request bodies, with the models they use) and
    FastAPI's validation-error models among its components, for routes documented by
    :func:`raw_body_doc`. Components already there are kept as they are."""
    default: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = default()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        _, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF_PREFIX + "{model}")
        for name, definition in defs.get("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault("ValidationError", validation_error_definition)
        components.setdefault("HTTPValidationError", validation_error_response_definition)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def parse_body(validator: type[M] | TypeAdapter[M], raw: bytes) -> M:
    """``raw`` (a JSON body) validated as ``validator``'s type in one pass.

    Raises
    ------
    RequestValidationError
        As FastAPI raises it for a body parameter: errors located under ``body`` (``["body",
        "candidates", 0, "list_price"]``), a missing body as a missing ``body``; the app answers 422.
    """
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        if isinstance(validator, TypeAdapter):
            return validator.validate_json(raw)
        return validator.model_validate_json(raw)
    except ValidationError as err:
        errors = [
            {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
            for e in err.errors(include_url=False, include_input=False)
        ]
        raise RequestValidationError(errors) from None


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (dicts, lists, str, int, float, bool, None) as a JSON answer, serialised by orjson."""
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")
