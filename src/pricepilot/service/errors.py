"""Errors that routes turn into HTTP answers: a field-level 422, and 503 before a policy is live."""

from __future__ import annotations

from collections.abc import Sequence


class FieldError(ValueError):
    """Bad input that passed schema validation (a missing feature, a day that goes back): a 422 that
    names the field by its location in the body, as FastAPI's own validation errors do."""

    def __init__(self, loc: Sequence[str | int], msg: str, source: str = "body") -> None:
        super().__init__(msg)
        self.loc = (source, *loc)
        self.msg = msg

    def detail(self) -> list[dict[str, object]]:
        return [{"loc": list(self.loc), "msg": self.msg, "type": "value_error"}]
