"""Forecast metrics: one set used everywhere (backtest, tuning, promotion, benchmarks).

One package, so that the backtest that picks a model, the tuner that shapes it, the promotion
gate that ships it and the benchmarks that compare it all score the same rows the same way.
Every metric here reads a *prediction frame*: a Polars frame with ``series_id, origin, ts,
horizon, model, yhat``, one column per quantile level named by :func:`models.quantile_column`
(``0.1 -> "q10"``), and the observed target ``y``.

Conventions shared by every function (so that two callers never score the same rows
differently; :mod:`training.metrics.prediction_frame` implements the first three):

* **Which rows are scored.** A row is scored when its target is observed: ``y`` is neither null
  nor NaN. Unobserved rows are dropped silently; they say nothing about the forecast. With
  ``masked=True`` (traffic convention, see :func:`masked_mae`) rows with ``y == 0`` are dropped
  too.
* **Missing forecasts are errors.** A null or NaN forecast column (``yhat`` or a quantile) on a
  scored row raises :class:`ValueError`: it is a model failure, and quietly skipping it would
  score a model on the easy rows only.
* **Nothing to score** gives ``nan`` (and an empty table for per-horizon functions), never an
  error, so a backtest fold without observations does not stop a run.
* **Pooling.** Scalar metrics pool every scored row (all series, origins and horizons) with
  equal weight; per-horizon and per-series tables group first. NSE and KGE are the exception:
  they are defined on one time series, so they are computed per series at one horizon and
  summarised by the median over series.

Families, one module each:

* :mod:`~training.metrics.point`: :func:`mae`, :func:`rmse`, :func:`masked_mae`, :func:`mase`
  (with :func:`mase_scale`);
* :mod:`~training.metrics.efficiency`: :func:`nse`, :func:`kge`, :func:`efficiency_by_series`;
* :mod:`~training.metrics.quantile`: :func:`pinball_loss`, :func:`crps_from_quantiles`,
  :func:`interval_coverage`, :func:`pit_values`, :func:`pit_coverage`;
* :mod:`~training.metrics.probability` (probability of an event): :func:`brier_score`,
  :func:`brier_skill`, :func:`reliability_table`;
* :mod:`~training.metrics.events`: a threshold crossing (ponding >= 5 cm) judged two ways, per
  forecast (a :func:`contingency` table over every origin and horizon: probability of
  detection, false alarm ratio, critical success index) and per event (each episode of
  observed exceedance: was it forecast in advance, and how long before its onset), in
  :func:`event_skill`;
* :mod:`~training.metrics.lead`: whether a warning comes before the water, per level and
  horizon: the "will it reach the level within H" contingency at origins not yet there, and
  each episode warned ahead, at onset or missed, with the lead's quartiles (:func:`lead_skill`);
* :mod:`~training.metrics.warnings`: the warnings an officer would have received (one per
  domain and area, replayed through the service's engine) against observed episodes per
  level, in :func:`warning_skill`;
* :mod:`~training.metrics.scores`: tables of named metrics (:data:`HORIZON_METRICS`):
  :func:`by_horizon` / :func:`mae_by_horizon`, and :func:`score_table`, the headline numbers
  of one model in one call.

Import from here, not from the modules.
"""

from training.metrics.efficiency import efficiency_by_series, kge, nse
from training.metrics.events import Contingency, EventSkill, contingency, event_skill
from training.metrics.lead import LeadSkill, lead_skill
from training.metrics.point import mae, mase, mase_scale, masked_mae, rmse
from training.metrics.probability import brier_score, brier_skill, reliability_table
from training.metrics.quantile import (
    crps_from_quantiles,
    interval_coverage,
    pinball_loss,
    pit_coverage,
    pit_values,
)
from training.metrics.scores import HORIZON_METRICS, by_horizon, mae_by_horizon, score_table
from training.metrics.warnings import WarningSkill, warning_skill

__all__ = [
    "HORIZON_METRICS",
    "Contingency",
    "EventSkill",
    "LeadSkill",
    "WarningSkill",
    "brier_score",
    "brier_skill",
    "by_horizon",
    "contingency",
    "crps_from_quantiles",
    "efficiency_by_series",
    "event_skill",
    "interval_coverage",
    "kge",
    "lead_skill",
    "mae",
    "mae_by_horizon",
    "mase",
    "mase_scale",
    "masked_mae",
    "nse",
    "pinball_loss",
    "pit_coverage",
    "pit_values",
    "reliability_table",
    "rmse",
    "score_table",
    "warning_skill",
]
