"""The canonical tables as one task reads them, derived once.

A task implies more than its config says outright: the series it counts from events (12345
tickets as targets, outages as covariates) and which catalog rows are its targets. Both depend
on the data, so they are derived from the tables, once, by :func:`task_tables`: the backtest
calls it when it prepares its data, serving when it scores, the ``features`` command before it
builds. Everything downstream (``build_features``, ``target_history``, ``observed_targets``,
``data_span``) takes the result and derives nothing again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl

from features.errors import DataError
from features.event_series import with_event_series
from features.grid import floor_to_grid, time_span
from features.links import select_targets
from features.tables import CityTables
from features.tasks import TaskConfig

log = logging.getLogger(__name__)

LATEST: Literal["latest"] = "latest"
"""``live_until=LATEST``: the event feeds are live up to the task's latest target time."""


@dataclass(frozen=True)
class TaskTables(CityTables):
    """The tables with the task's count series in the catalog and observations, and its targets.

    Rows filtered by time (``until``, ``with_observations``) keep the task and its targets: the
    catalog does not change with time.
    """

    task: TaskConfig
    targets: pl.DataFrame
    """``series_id, area_id, attrs`` of the task's targets, sorted by id."""


def task_tables(
    tables: CityTables,
    task: TaskConfig,
    *,
    live_until: datetime | Literal["latest"] | None = None,
) -> TaskTables:
    """The tables as ``task`` reads them: its count series derived and its targets selected.

    Args:
        live_until: until when the event feeds are known to be live, so that a bin without
            events counts zero rather than unknown. ``None``: up to each source's last event
            (a backtest's history); a time: up to it; ``LATEST``: up to the task's latest
            target time (serving's origin, and the last origin of the ``features`` command).
            Tables already derived for this task are returned as they are: derived once.
    """
    if isinstance(tables, TaskTables) and tables.task == task:
        return tables
    if live_until == "latest":
        # a count's bin (t - step, t] is complete once the data's clock reaches t
        complete = floor_to_grid(data_clock(tables), task.step)
        counted = with_event_series(tables, task, covariates=False, complete_until=complete)
        live = _last_target_time(counted, task, select_targets(counted.series, task))
        counted = with_event_series(counted, task, live_until=live, complete_until=complete)
    else:
        counted = with_event_series(tables, task, live_until=live_until)
    base = {f.name: getattr(counted, f.name) for f in fields(CityTables)}
    return TaskTables(**base, task=task, targets=select_targets(counted.series, task))


def data_clock(tables: CityTables) -> datetime:
    """The data's own time: the latest time stamp of any observation or event (what the city
    has told us by now)."""
    stamps = [tables.observations["ts"].max(), tables.events["ts"].max()]
    found = [t for t in stamps if isinstance(t, datetime)]
    if not found:
        raise DataError("no observations or events: the data has no time yet")
    return max(found)


def data_span(tables: TaskTables) -> tuple[datetime, datetime]:
    """The first grid time from which the targets have data, and the last holding a target
    observation.

    The data starts where readings come steadily, not at the earliest stray one: a single
    reading eight days before the rest once let fold planning count a week of training that did
    not exist. The start is the first grid time (holding a reading) whose next day of grid times
    (at least 7 steps) holds readings at no less than half the grid's rate; readings before it
    are left out, and said so in the log."""
    step = tables.task.step
    times = _target_times(tables, tables.task, tables.targets)
    first, last = time_span(times)
    bins = (
        times.dt.truncate(step).unique().sort().dt.epoch("us").to_numpy()
        if step < timedelta(days=1)
        else np.unique(np.array([floor_to_grid(t, step).timestamp() * 1e6 for t in times]))
    )
    start = _steady_start(bins, int(step / timedelta(microseconds=1)))
    if start > 0:
        steady = datetime.fromtimestamp(bins[start] / 1e6, tz=first.tzinfo)
        log.warning(
            "%s: %d grid time(s) of target readings from %s stand apart from the data, "
            "which runs steadily from %s; the data span counts from there",
            tables.task.name,
            start,
            f"{first:%Y-%m-%d %H:%M}",
            f"{steady:%Y-%m-%d %H:%M}",
        )
        first = steady
    return floor_to_grid(first, step) + step, floor_to_grid(last, step)


def data_end(tables: TaskTables) -> datetime:
    """The last grid time holding a target observation: serving's origin, read at every scoring
    without :func:`data_span`'s scan for where the data starts."""
    return _last_target_time(tables, tables.task, tables.targets)


def _steady_start(bins: np.ndarray, step_us: int) -> int:
    """Index of the first bin whose following day (>= 7 steps) of bins is at least half full."""
    window = max(7, int(timedelta(days=1) / timedelta(microseconds=step_us)))
    for i in range(len(bins)):
        ahead = min(window, len(bins) - 1 - i)
        if ahead == 0 or bins[i + ahead] - bins[i] <= 2 * ahead * step_us:
            return i
    return 0


def _target_times(tables: CityTables, task: TaskConfig, targets: pl.DataFrame) -> pl.Series:
    ts = tables.observations.join(targets, on="series_id", how="semi")["ts"]
    if ts.is_empty():
        raise DataError(f"no observations of the task's target signal {task.target.signal!r}")
    return ts


def _last_target_time(tables: CityTables, task: TaskConfig, targets: pl.DataFrame) -> datetime:
    return floor_to_grid(time_span(_target_times(tables, task, targets))[1], task.step)
