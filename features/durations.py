"""Durations written as text in configs and on the command line ("10m", "1h", "7d")."""

from __future__ import annotations

import re
from datetime import timedelta

from features.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str | int, *, key: str | None = None) -> timedelta:
    """Parse ``"10m"``-style text (s, m, h, d, w) into a timedelta; integers are seconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        return timedelta(seconds=text)
    match = _PATTERN.match(str(text))
    if not match:
        raise ConfigError(
            f"{text!r} is not a duration; write a whole number and a unit of s, m, h, d or w "
            "(for example 10m, 6h, 7d)",
            key=key,
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(delta: timedelta) -> str:
    """The shortest exact text for a duration, the inverse of ``parse_duration``."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
