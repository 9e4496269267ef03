"""Model families by name (the task config's ``model.family``).

Families are named by ``module:Class`` and imported on first use, so that a task on LightGBM
never pays for importing PyTorch or statsmodels (the CLI and the API start faster too).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from features import ConfigError, FeatureSpec, ModelSpec, TaskConfig
from models.protocol import Forecaster, history_covariates

FAMILIES: dict[str, str] = {
    "lightgbm": "models.gbm:GradientBoostedForecaster",
    "seasonal_naive": "models.baseline:SeasonalNaiveForecaster",
    "historical_average": "models.baseline:HistoricalAverageForecaster",
    "ets": "models.ets_forecaster:EtsForecaster",
    "sarimax": "models.sarimax_forecaster:SarimaxForecaster",
    "sequence": "models.sequence:SequenceForecaster",
    "graph": "models.graph:GraphForecaster",
    "rate_of_rise": "models.rate_of_rise:RateOfRiseForecaster",
}


def family_class(name: str, *, key: str = "model.family") -> type:
    """The class of a family by name; unknown names raise with the allowed ones."""
    target = FAMILIES.get(name)
    if target is None:
        raise ConfigError(
            f"unknown model family {name!r}; allowed: {', '.join(sorted(FAMILIES))}", key=key
        )
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def build_forecaster(
    model: ModelSpec,
    *,
    task: TaskConfig,
    spec: FeatureSpec,
    overrides: dict[str, Any] | None = None,
) -> Forecaster:
    """A new, unfitted forecaster of the spec's family with its parameters (plus overrides)."""
    family = family_class(model.family)
    return family(task=task, spec=spec, **{**model.params, **(overrides or {})})


def covariates_read(
    models: Iterable[ModelSpec], *, task: TaskConfig, spec: FeatureSpec
) -> tuple[str, ...]:
    """The observed covariates any of these models reads beside the target history: what a
    backtest's shared ``TargetHistory`` must carry (a new forecaster of each says; building
    one fits nothing)."""
    names: dict[str, None] = {}
    for model in models:
        forecaster = build_forecaster(model, task=task, spec=spec)
        names.update(dict.fromkeys(history_covariates(forecaster)))
    return tuple(names)
