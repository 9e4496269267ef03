"""Durations written as text in configs and on the command line ("10m", "1h", "7d").

A task config's durations are parsed once, at load, into :class:`Duration`: a ``timedelta``
that remembers how it was written. Code computes with it as a timedelta; feature names
(``rain_sum_60m``), error messages and the config logged to MLflow read it as written, so a
config round-trips unchanged and a model's feature names never depend on how we re-spell text.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from features.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_HINT = "write a whole number and a unit of s, m, h, d or w (for example 10m, 6h, 7d)"


def _seconds(text: str | int) -> int | None:
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _PATTERN.match(str(text))
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def parse_duration(text: str | int, *, key: str | None = None) -> timedelta:
    """Parse ``"10m"``-style text (s, m, h, d, w) into a timedelta; integers are seconds."""
    seconds = _seconds(text)
    if seconds is None:
        raise ConfigError(f"{text!r} is not a duration; {_HINT}", key=key)
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact text for a duration, the inverse of ``parse_duration``."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


class Duration(timedelta):
    """A timedelta that keeps the text it was written as.

    ``str()`` gives that text back (``Duration("60m")`` prints ``60m``, not ``1:00:00``), and
    pydantic serialises it as that text, so a task config dumped to YAML or JSON reads as it
    was written. Equality, hashing and arithmetic are the timedelta's: ``Duration("60m") ==
    Duration("1h")``, and ``Duration("1h") * 2`` is a plain timedelta.
    """

    __slots__ = ("_text",)
    _text: str

    def __new__(cls, text: str | int, *, key: str | None = None) -> Duration:
        delta = parse_duration(text, key=key)
        self = super().__new__(cls, days=delta.days, seconds=delta.seconds)
        self._text = str(text)
        return self

    @classmethod
    def of(cls, delta: timedelta) -> Duration:
        """A duration from a timedelta, written in its shortest exact form."""
        return delta if isinstance(delta, Duration) else cls(format_duration(delta))

    @property
    def text(self) -> str:
        return self._text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Duration({self._text!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Duration, (self._text,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(
                str, return_schema=core_schema.str_schema()
            ),
        )


def _validate(value: Any) -> Duration:
    """Pydantic's reading of a duration field: text, whole seconds or a timedelta."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, timedelta):
        return Duration.of(value)
    if isinstance(value, str | int) and _seconds(value) is not None:
        return Duration(value)
    raise PydanticCustomError(
        "duration", "{text} is not a duration; " + _HINT, {"text": repr(value)}
    )
