"""Model families by name (the task config's ``model.family``): a plain dict, nothing clever."""

from __future__ import annotations

from typing import Any

from features.errors import ConfigError
from features.feature_spec import FeatureSpec
from features.tasks import ModelSpec, TaskConfig
from models.baseline import SeasonalNaiveForecaster
from models.gbm import GradientBoostedForecaster
from models.protocol import Forecaster

FAMILIES: dict[str, type] = {
    "lightgbm": GradientBoostedForecaster,
    "seasonal_naive": SeasonalNaiveForecaster,
}


def build_forecaster(
    model: ModelSpec,
    *,
    task: TaskConfig,
    spec: FeatureSpec,
    overrides: dict[str, Any] | None = None,
) -> Forecaster:
    """A new, unfitted forecaster of the spec's family with its parameters (plus overrides)."""
    family = FAMILIES.get(model.family)
    if family is None:
        raise ConfigError(
            f"unknown model family {model.family!r}; allowed: {', '.join(sorted(FAMILIES))}",
            key="model.family",
        )
    return family(task=task, spec=spec, **{**model.params, **(overrides or {})})
