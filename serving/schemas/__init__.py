"""The HTTP layer's request and response models, one module per resource.

They say in ``/openapi.json`` what clients send and get. Two conventions hold on every route:
times travel as the ISO-8601 text the service has always written (``2025-07-14T08:00:00+00:00``,
kept as text so the JSON stays byte for byte what clients already parse), and warning levels
as their colours. Error bodies are in :mod:`serving.schemas.errors`.
"""

from typing import Annotated, Literal

from pydantic import WithJsonSchema

IsoTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""A UTC time as ISO-8601 text with its offset."""

Colour = Literal["none", "blue", "yellow", "orange", "red"]
"""A warning level by colour, least severe first (``none``: no warning)."""

__all__ = ["Colour", "IsoTime"]
