"""Request bodies of rows: a JSON object ``{"<table>": [...]}``, a bare JSON array, or NDJSON.

Integrators send what their tools write: a wrapped list (the documented form), a plain array,
or one JSON object a line (``application/x-ndjson``, what log shippers and stream tools
emit). Each row is checked against the route's item model and refused with FastAPI's field
errors (``loc`` names the row), never echoing the input. The body's size limit applies while it
is read (``CITYBRAIN_MAX_BODY_BYTES``: 413 past it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

from features import CitybrainError

MAX_ROWS = 100_000
NDJSON = "application/x-ndjson"


class UnsupportedMediaError(CitybrainError):
    http_status = 415


def _error(loc: tuple[Any, ...], msg: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg}])


def rows_of(
    item: type[BaseModel], key: str
) -> Callable[[Request], Awaitable[list[dict[str, Any]]]]:
    """A dependency reading a body of ``item`` rows (wrapped under ``key``, a bare array, or
    NDJSON) into plain rows, times as ISO-8601 text, as the validator reads a file."""
    adapter = TypeAdapter(list[item])  # type: ignore[valid-type]

    async def read(request: Request) -> list[dict[str, Any]]:
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
        raw = await request.body()
        if kind == NDJSON:
            items: Any = []
            for n, line in enumerate(raw.splitlines(), start=1):
                if line.strip():
                    try:
                        items.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        raise _error(("body", n), f"line {n} is not JSON", "json_invalid") from None
        elif kind in ("application/json", ""):
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                raise _error(("body", err.pos), "JSON decode error", "json_invalid") from None
            if isinstance(doc, dict):
                extra = sorted(set(doc) - {key})
                if extra or key not in doc:
                    raise _error(
                        ("body", extra[0][:40] if extra else key),
                        f"expected an object with only {key!r} (a list of rows), or a list",
                    )
                items = doc[key]
            else:
                items = doc
        else:
            raise UnsupportedMediaError(
                f"content type {kind[:60]!r} is not taken; send application/json (an object "
                f"{{{key!r}: [...]}} or a list) or {NDJSON} (one row a line)"
            )
        if not isinstance(items, list):
            raise _error(("body", key), "expected a list of rows", "list_type")
        if not 1 <= len(items) <= MAX_ROWS:
            raise _error(("body", key), f"expected 1 to {MAX_ROWS:,} rows, got {len(items):,}")
        try:
            parsed = adapter.validate_python(items)
        except ValidationError as err:
            raise RequestValidationError(
                [{**e, "loc": ("body", key, *e["loc"])} for e in err.errors()]
            ) from None
        return [row.model_dump(mode="json") for row in parsed]  # type: ignore[attr-defined]

    read.__name__ = f"read_{key}"
    return read


def body_schema(item: type[BaseModel], key: str) -> dict[str, Any]:
    """The ``requestBody`` of a rows route for OpenAPI: the three forms, the item inlined."""
    one = item.model_json_schema()
    rows = {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_ROWS}
    wrapped = {
        "type": "object",
        "properties": {key: rows},
        "required": [key],
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"anyOf": [wrapped, rows]}},
                NDJSON: {"schema": one},
            },
        }
    }
