"""The parameters both neural families (``sequence``, ``graph``) share, and their checks.

A family's defaults are ``COMMON_DEFAULTS`` plus its own; a task's ``model.params`` overlay
them and are checked here once, so a typo or an out-of-range value fails when the task is
loaded with a ConfigError naming the key, not deep in a training loop.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from features import ConfigError, parse_duration

COMMON_DEFAULTS: dict[str, Any] = {
    "epochs": 40,
    "epoch_samples": 8192,
    "hidden": 64,
    "context": None,  # None: 24 steps of the task's grid
    "learning_rate": 2e-3,
    "dropout": 0.1,
    "patience": 6,
    "encoder": "lstm",
    "validation": 0.15,
    "weight_decay": 1e-5,
}

DEFAULT_CONTEXT_STEPS = 24


def resolve_params(params: dict[str, Any], defaults: dict[str, Any], family: str) -> dict[str, Any]:
    """Defaults overlaid with ``params``; unknown names raise a ConfigError naming the allowed."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise ConfigError(
            f"unknown {family} parameters {sorted(unknown)}; allowed: {sorted(defaults)}",
            key="model.params",
        )
    p = {**defaults, **params}
    for name in ("epochs", "epoch_samples", "hidden", "batch_size", "patience"):
        if not isinstance(p[name], int) or isinstance(p[name], bool) or p[name] < 1:
            raise ConfigError(f"{name} must be a positive integer", key=f"model.params.{name}")
    for name, low, high, text in (
        ("learning_rate", 0.0, float("inf"), "> 0"),
        ("weight_decay", -1e-12, float("inf"), ">= 0"),
        ("dropout", -1e-12, 1.0, "in [0, 1)"),
        ("validation", 0.0, 0.5, "in (0, 0.5)"),
    ):
        value = p[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
            raise ConfigError(f"{name} must be a number {text}", key=f"model.params.{name}")
    if p["encoder"] not in ("lstm", "tcn"):
        raise ConfigError(
            f"encoder must be lstm or tcn, got {p['encoder']!r}", key="model.params.encoder"
        )
    return p


def context_steps(context: str | None, step: timedelta) -> int:
    """The encoder's window in grid steps (a duration rounded up to whole steps)."""
    if context is None:
        return DEFAULT_CONTEXT_STEPS
    span = parse_duration(context, key="model.params.context")
    if span <= timedelta(0):
        raise ConfigError("context must be a positive duration", key="model.params.context")
    return max(1, -(-span // step))
