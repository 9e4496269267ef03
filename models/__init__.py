"""Forecasters behind one protocol: baselines and LightGBM (statsmodels and PyTorch to come)."""

from models.baseline import SeasonalNaiveForecaster
from models.gbm import GradientBoostedForecaster
from models.protocol import FORECAST_KEYS, Forecaster, forecast_columns
from models.quantiles import exceedance_probability, quantile_column, with_exceedance
from models.registry import FAMILIES, build_forecaster

__all__ = [
    "FAMILIES",
    "FORECAST_KEYS",
    "Forecaster",
    "GradientBoostedForecaster",
    "SeasonalNaiveForecaster",
    "build_forecaster",
    "exceedance_probability",
    "forecast_columns",
    "quantile_column",
    "with_exceedance",
]
