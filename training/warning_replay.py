"""The service's warnings, replayed over a backtest's forecasts.

Every backtest origin, in time order, goes through the same :class:`WarningRules` and the same
:class:`alerts.WarningEngine` the service runs (grouping per domain and area, hysteresis, hold,
quiet-period reopens), on a ledger of its own in memory. What comes out is the timeline of
the warnings duty officers would have received: when each one opened, moved and closed, at
which level. :func:`training.metrics.warning_skill` judges that timeline against what was
observed.
"""

from __future__ import annotations

import polars as pl

from alerts import Ledger, WarningEngine
from features import TaskConfig
from training.warning_rules import WarningRules

TIMELINE_SCHEMA: dict[str, pl.DataType] = {
    "warning_id": pl.String(),
    "area_id": pl.String(),
    "at": pl.Datetime("us", "UTC"),
    "action": pl.String(),
    "level": pl.Int8(),
}


def replay_warnings(forecast: pl.DataFrame, task: TaskConfig, areas: pl.DataFrame) -> pl.DataFrame:
    """Run the engine over every origin of ``forecast`` (one model's rows).

    Args:
        forecast: ``series_id, origin, ts, horizon, yhat`` with ``p_<level>`` and
            ``t_<level>`` (the backtest's predictions of one model), and the observed ``y``
            and quantiles an unforecast surge is read from.
        areas: ``series_id, area_id`` of the targets.

    Returns:
        ``warning_id, area_id, at, action, level``: one row per lifecycle change (opened,
        reopened, escalated, deescalated, closed), ``level`` the warning's level after it
        (0 once closed).
    """
    rules = WarningRules(task)
    frame = forecast.join(areas.select("series_id", "area_id"), on="series_id", how="left")
    summary = rules.summary(frame)
    if rules.unforecast_hours:
        summary = rules.with_unforecast(summary, rules.unforecast(forecast))
    summary = summary.sort("origin", "series_id")
    ledger = Ledger("sqlite://")
    engine = WarningEngine(ledger, channels=(), causes={})
    rows: list[dict] = []
    try:
        for (origin,), batch in summary.group_by("origin", maintain_order=True):
            for change in engine.evaluate(rules.assessments(batch), now=origin):
                rows.append(
                    {
                        "warning_id": change.warning.id,
                        "area_id": change.warning.area_id,
                        "at": origin,
                        "action": change.action,
                        "level": int(change.to_level),
                    }
                )
    finally:
        ledger.dispose()
    return pl.DataFrame(rows, schema=TIMELINE_SCHEMA)
