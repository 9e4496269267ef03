"""Models: forecasters behind one protocol, and what turns their quantiles into probabilities.

Every family implements :class:`Forecaster` (``fit`` on a feature frame and the target's
history, ``predict`` a Forecast frame of a median and quantile columns) and is named in
:data:`FAMILIES`, so training, tuning, MLflow packaging and serving treat them alike:

- baselines: ``seasonal_naive`` (persistence for a one-step season), ``historical_average``;
- statsmodels per series: ``ets``, ``sarimax`` (with calendar, Fourier and rain regressors);
- LightGBM: ``lightgbm``, one global direct multi-horizon model;
- PyTorch: ``sequence`` and ``graph`` (CPU, or a GPU where one is present);
- the warning baseline ``rate_of_rise``: the last hour's trend extrapolated, a rule, not a fit.

Around them: the inverse-error ensemble, quantile calibration, and the one reading of
exceedance probabilities from quantiles. The families import their libraries (statsmodels,
LightGBM, PyTorch) only when first used: ``models.SequenceForecaster`` loads PyTorch, importing
``models`` does not. Import from here, not from the modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from models.calibration import CalibratedForecaster, apply_scales, fit_scales
from models.ensemble import EnsembleForecaster, blend
from models.protocol import (
    FORECAST_KEYS,
    Forecaster,
    forecast_columns,
    history_covariates,
    history_span,
)
from models.quantiles import (
    cdf_bounds,
    event_probability,
    exceedance_probability,
    quantile_column,
    with_exceedance,
)
from models.registry import FAMILIES, build_forecaster, covariates_read, family_class
from models.series_pool import close_pools

if TYPE_CHECKING:
    from models.baseline import HistoricalAverageForecaster, SeasonalNaiveForecaster
    from models.ets_forecaster import EtsForecaster
    from models.gbm import GradientBoostedForecaster
    from models.graph import GraphForecaster
    from models.rate_of_rise import RateOfRiseForecaster
    from models.sarimax_forecaster import SarimaxForecaster
    from models.sequence import SequenceForecaster

_LAZY = {cls: module for cls, module in (target.split(":")[::-1] for target in FAMILIES.values())}


def __getattr__(name: str) -> Any:
    """The family classes, imported on first use (their libraries are heavy)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


__all__ = [
    "FAMILIES",
    "FORECAST_KEYS",
    "CalibratedForecaster",
    "EnsembleForecaster",
    "EtsForecaster",
    "Forecaster",
    "GradientBoostedForecaster",
    "GraphForecaster",
    "HistoricalAverageForecaster",
    "RateOfRiseForecaster",
    "SarimaxForecaster",
    "SeasonalNaiveForecaster",
    "SequenceForecaster",
    "apply_scales",
    "blend",
    "build_forecaster",
    "cdf_bounds",
    "close_pools",
    "covariates_read",
    "event_probability",
    "exceedance_probability",
    "family_class",
    "fit_scales",
    "forecast_columns",
    "history_covariates",
    "history_span",
    "quantile_column",
    "with_exceedance",
]
