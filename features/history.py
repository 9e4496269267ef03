"""The target's own history as a dense matrix, for models that read sequences.

Tabular models see a handful of lags per row; sequence models (statsmodels per series, PyTorch
encoders) need the whole recent series. ``TargetHistory`` holds it as one ``series x time``
float matrix on the task's grid, built by the same rules as the feature pipeline's target
(punctual values only, forward-filled up to ``features.fill_limit``, NaN where unknown), so a
value in bin ``t`` is known at time ``t`` and a model reading bins up to an origin is
point-in-time correct. The series table rides along so graph models can read ``attrs``
(``neighbours``, ``upstream``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.dense import target_grid
from features.errors import DataError
from features.event_series import with_event_series
from features.grid import floor_to_grid, punctual_readings
from features.links import select_targets
from features.tables import CityTables
from features.tasks import TaskConfig


@dataclass(frozen=True)
class TargetHistory:
    """``values[i, j]``: series ``series_ids[i]`` at ``start + j * step`` (NaN if unknown)."""

    values: np.ndarray
    series_ids: tuple[str, ...]
    start: datetime
    step: timedelta
    series: pl.DataFrame

    @property
    def end(self) -> datetime:
        """The last grid time held."""
        return self.start + (self.values.shape[1] - 1) * self.step

    def bins(self, ts: pl.Series | list[datetime]) -> np.ndarray:
        """Column index of each grid time (may fall outside ``[0, n_bins)``)."""
        s = pl.Series("ts", ts) if not isinstance(ts, pl.Series) else ts
        step_us = int(self.step / timedelta(microseconds=1))
        start_us = int(self.start.timestamp() * 1_000_000)
        return (s.dt.epoch("us").to_numpy() - start_us) // step_us

    def rows(self, series_ids: pl.Series | list[str]) -> np.ndarray:
        """Row index of each series id; unknown ids raise."""
        index = {sid: i for i, sid in enumerate(self.series_ids)}
        ids = series_ids.to_list() if isinstance(series_ids, pl.Series) else series_ids
        missing = sorted({s for s in ids if s not in index})
        if missing:
            raise DataError(f"no history for series {missing[:5]}")
        return np.array([index[s] for s in ids], dtype=np.int64)

    def windows(self, rows: np.ndarray, end_bins: np.ndarray, length: int) -> np.ndarray:
        """``(len(rows), length)``: the last ``length`` values up to and including ``end_bins``,
        NaN before the start of the history. Reads nothing after ``end_bins``."""
        offsets = np.arange(-length + 1, 1)
        cols = end_bins[:, None] + offsets[None, :]
        if (end_bins >= self.values.shape[1]).any():
            raise DataError(f"history ends at {self.end}, before a requested origin")
        inside = cols >= 0
        out = self.values[rows[:, None], np.clip(cols, 0, None)]
        return np.where(inside, out, np.nan)

    def until(self, end: datetime) -> TargetHistory:
        """Only the grid times before ``end``: what a model fitted at ``end`` may read."""
        n = int(self.bins([end])[0])
        if n < 1:
            raise DataError(f"no history before {end}")
        return TargetHistory(
            self.values[:, : min(n, self.values.shape[1])].copy(),
            self.series_ids,
            self.start,
            self.step,
            self.series,
        )

    def frame(self) -> pl.DataFrame:
        """``series_id, ts, value`` in long form, for libraries that want a table."""
        n_series, n_bins = self.values.shape
        axis = pl.datetime_range(
            self.start, self.end, self.step, time_unit="us", time_zone="UTC", eager=True
        )
        return pl.DataFrame(
            {
                "series_id": pl.Series(self.series_ids).gather(
                    np.repeat(np.arange(n_series), n_bins)
                ),
                "ts": axis.gather(np.tile(np.arange(n_bins), n_series)),
                "value": self.values.ravel(),
            }
        ).with_columns(pl.col("value").fill_nan(None))


def target_history(
    tables: CityTables, task: TaskConfig, start: datetime, end: datetime
) -> TargetHistory:
    """The task's targets on its grid from ``start`` to ``end`` (both floored to the grid)."""
    tables = with_event_series(tables, task, live_until=end)
    targets = select_targets(tables.series, task)
    series = tables.series.filter(pl.col("signal") == task.target.signal)
    step = task.step
    first, last = floor_to_grid(start, step), floor_to_grid(end, step)
    grid = target_grid(
        punctual_readings(tables.observations, series),
        targets["series_id"].to_list(),
        task,
        first,
        last,
    )
    return TargetHistory(grid.now, grid.ids, first, step, targets)
