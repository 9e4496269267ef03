"""The parameters of the per-series families (``ets``, ``sarimax``): defaults and checks.

Both families take their ``model.params`` from YAML or from an Optuna trial, so each value is
checked here with the key path it came from, and a ``ConfigError`` says what was expected.
Durations must be a whole number of the task's grid steps: the models run on the step grid,
and a window of 90 minutes on an hourly grid would be silently rounded otherwise.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from features import SIGNALS, ConfigError, TaskConfig, format_duration, parse_duration

INTERVALS = ("empirical", "gaussian", "negbin")
COMMON_PARAMS = {"fit_window", "filter_window", "max_gap", "intervals", "n_jobs", "maxiter"}


def default_windows(step: timedelta) -> tuple[str, str]:
    """Default ``fit_window`` and ``filter_window`` for a grid step."""
    if step < timedelta(hours=1):
        return "28d", "2d"
    if step < timedelta(days=1):
        return "90d", "7d"
    return "730d", "90d"


def whole_steps(text: Any, step: timedelta, key: str) -> int:
    """A duration as a whole number (at least 1) of grid steps."""
    n = parse_duration(text, key=key) / step
    if n < 1 or n != int(n):
        raise ConfigError(
            f"{key} must be a whole number (at least 1) of grid steps of {format_duration(step)}, "
            f"got {text!r}",
            key=key,
        )
    return int(n)


def check_flag(value: Any, key: str) -> bool:
    """A boolean, not a truthy value (YAML's ``"no"`` is a string)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}", key=key)
    return value


def check_integer(value: Any, key: str, low: int) -> int:
    """An integer of at least ``low`` (a boolean is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{key} must be an integer of at least {low}, got {value!r}", key=key)
    return value


def is_count(task: TaskConfig) -> bool:
    """Whether the target counts something (12345 tickets): counted from events, or a signal
    measured in counts."""
    sig = SIGNALS.get(task.target.signal)
    return task.target.events is not None or (sig is not None and sig.unit == "count")
