"""The error bodies, documented once for every route that can answer them.

A ``CitybrainError`` (invalid data, an unknown domain or warning, ...) answers its own HTTP
status with ``{"error": kind, "detail": message}``. A request that the schema itself refuses
(a missing field, an unknown field, a value out of range) answers 422 with FastAPI's list of
field errors. Routes that take data can answer 422 either way, so both bodies are declared.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """The body of every ``CitybrainError``: its kind and a message that says what, where and
    what to do."""

    error: str = Field(description="the error's kind", examples=["NotFoundError", "DataError"])
    detail: str = Field(description="what went wrong, where (row, column) and what to do")


class FieldError(BaseModel):
    """One field the request schema refused (FastAPI's shape, without the input: an error
    never echoes what was sent)."""

    loc: list[str | int] = Field(description="where: body, query or path, then the field path")
    msg: str
    type: str


class RequestErrorOut(BaseModel):
    """A request refused by its schema before anything ran (the first errors, at most 20)."""

    detail: list[FieldError]
    more: int = Field(0, description="further field errors not listed")


_WHY = {
    400: "Invalid configuration (ConfigError).",
    401: "No API key in X-API-Key, or one the service does not know or has revoked.",
    403: "The API key lacks the role this route needs (read, ingest, officer or admin).",
    413: "The body is larger than the service's limit (CITYBRAIN_MAX_BODY_BYTES).",
    415: "A content type the route does not take.",
    429: "The API key is over its rate limit; Retry-After says when to try again.",
    404: "Not found: the domain, series or warning named does not exist (NotFoundError).",
    422: "Invalid: data that fails validation (DataError, with row and column), or a request "
    "its schema refuses (a list of field errors).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer these error statuses, each with its body."""
    return {
        status: {
            "model": ErrorOut | RequestErrorOut if status == 422 else ErrorOut,
            "description": _WHY.get(status, "A CitybrainError."),
        }
        for status in statuses
    }
