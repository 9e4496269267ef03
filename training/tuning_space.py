"""The search space of a tuning study: the task's ``model.search_space``, parsed and checked.

A study can run for hours on several machines, so a malformed entry, or a parameter the
model family does not take, must fail before the first trial, as a ConfigError that names
``model.search_space.<param>`` and what is allowed. Each entry becomes a :class:`Dimension`
that samples itself from an Optuna trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optuna.trial import Trial

from features import ConfigError, TaskConfig
from models import build_forecaster
from training.backtest import BacktestData

RANGE_KEYS = {"low", "high", "log", "step"}


@dataclass(frozen=True)
class Dimension:
    """One tuned parameter: a range (int when both bounds are) or a list of choices."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if isinstance(self.low, int) and isinstance(self.high, int):
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(self.name, self.low, self.high, step=step, log=self.log)
        assert self.low is not None and self.high is not None  # a range, checked when parsed
        return trial.suggest_float(
            self.name, float(self.low), float(self.high), step=self.step, log=self.log
        )

    def extremes(self) -> list[Any]:
        """The values a family's constructor is checked with before any trial runs."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


_SHAPE = "{low, high[, log, step]} (a range) or {choices: [...]}"


def parse_search_space(raw: dict[str, Any]) -> list[Dimension]:
    """The task's ``model.search_space`` as dimensions; a malformed entry is a ConfigError
    naming ``model.search_space.<param>`` and what is allowed."""
    if not raw:
        raise ConfigError(
            f"is empty: nothing to tune; declare at least one parameter as {_SHAPE}",
            key="model.search_space",
        )
    return [_dimension(str(name), spec) for name, spec in raw.items()]


def _dimension(name: str, spec: Any) -> Dimension:
    key = f"model.search_space.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"must be a mapping {_SHAPE}, got {spec!r}", key=key)
    if "choices" in spec:
        if set(spec) != {"choices"}:
            extra = sorted(set(spec) - {"choices"})
            raise ConfigError(f"choices take no other keys (got {extra}); use {_SHAPE}", key=key)
        choices = spec["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            raise ConfigError(f"choices must be a non-empty list, got {choices!r}", key=key)
        odd = [c for c in choices if c is not None and not isinstance(c, bool | int | float | str)]
        if odd:
            raise ConfigError(f"choices must be numbers, strings, booleans or null: {odd}", key=key)
        return Dimension(name, choices=tuple(choices))
    unknown = sorted(set(spec) - RANGE_KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; allowed: {_SHAPE}", key=key)
    missing = [k for k in ("low", "high") if k not in spec]
    if missing:
        raise ConfigError(f"a range needs low and high (missing {missing}); use {_SHAPE}", key=key)
    low, high, step = spec["low"], spec["high"], spec.get("step")
    for k, v in (("low", low), ("high", high), ("step", step)):
        if v is not None and not _is_number(v):
            hint = " (YAML reads 1e-4 as text: write 1.0e-4)" if isinstance(v, str) else ""
            raise ConfigError(f"{k} must be a number, got {v!r}{hint}", key=key)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"log must be true or false, got {log!r}", key=key)
    if low >= high:
        raise ConfigError(f"low ({low}) must be below high ({high})", key=key)
    if log and low <= 0:
        raise ConfigError(f"a log range needs low > 0, got {low}", key=key)
    if step is not None and step <= 0:
        raise ConfigError(f"step must be positive, got {step}", key=key)
    if step is not None and log:
        raise ConfigError("step and log cannot be combined; drop one", key=key)
    if isinstance(low, int) and isinstance(high, int) and isinstance(step, float):
        low, high = float(low), float(high)  # a fractional step makes it a float range
    return Dimension(name, low=low, high=high, log=log, step=step)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_family_params(space: list[Dimension], data: BacktestData, task: TaskConfig) -> None:
    """Build the family with each parameter's extreme values, so that a parameter (or value) the
    family does not take fails before any trial, naming ``model.search_space.<param>``."""
    for dim in space:
        for value in dim.extremes():
            try:
                build_forecaster(task.model, task=task, spec=data.spec, overrides={dim.name: value})
            except ConfigError as err:
                reason = err.message.removeprefix(f"{err.key}: ") if err.key else err.message
                raise ConfigError(
                    f"family {task.model.family} rejects {dim.name}={value!r}: {reason}",
                    key=f"model.search_space.{dim.name}",
                ) from None
