"""The target's own history as a dense matrix, for models that read sequences.

Tabular models see a handful of lags per row; sequence models (statsmodels per series, PyTorch
encoders) need the whole recent series. ``TargetHistory`` holds it as one ``series x time``
float matrix on the task's grid, built by the same rules as the feature pipeline's target
(punctual values only, forward-filled up to ``features.fill_limit``, NaN where unknown), so a
value in bin ``t`` is known at time ``t`` and a model reading bins up to an origin is
point-in-time correct. The series table rides along so graph models can read ``attrs``
(``neighbours``, ``upstream``).

A model that reads an observed covariate step by step (SARIMAX's rain regressor) asks for it
by name (``covariates``): each one rides along as a matrix of the same shape, each target's
linked source on the same grid (:func:`features.covariates.covariate_steps`, the rows the
window features are taken from), and is cut by :meth:`TargetHistory.until` with the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.covariates import covariate_steps
from features.dense import target_grid
from features.errors import ConfigError, DataError
from features.grid import floor_to_grid, punctual_readings
from features.task_tables import TaskTables


@dataclass(frozen=True)
class TargetHistory:
    """``values[i, j]``: series ``series_ids[i]`` at ``start + j * step`` (NaN if unknown);
    ``covariates[name][i, j]``: the observed covariate ``name`` linked to that series, then."""

    values: np.ndarray
    series_ids: tuple[str, ...]
    start: datetime
    step: timedelta
    series: pl.DataFrame
    covariates: Mapping[str, np.ndarray] = field(default_factory=dict)

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

    def windows(
        self, rows: np.ndarray, end_bins: np.ndarray, length: int, covariate: str | None = None
    ) -> np.ndarray:
        """``(len(rows), length)``: the last ``length`` values (of the target, or of the named
        covariate) up to and including ``end_bins``, NaN before the start of the history.
        Reads nothing after ``end_bins``."""
        values = self.values if covariate is None else self.covariate(covariate)
        offsets = np.arange(-length + 1, 1)
        cols = end_bins[:, None] + offsets[None, :]
        if (end_bins >= values.shape[1]).any():
            raise DataError(f"history ends at {self.end}, before a requested origin")
        inside = cols >= 0
        out = values[rows[:, None], np.clip(cols, 0, None)]
        return np.where(inside, out, np.nan)

    def covariate(self, name: str) -> np.ndarray:
        """The named covariate's ``(series, bin)`` matrix; one not carried raises and says how
        to ask for it."""
        if name not in self.covariates:
            held = sorted(self.covariates) or "none"
            raise DataError(
                f"the target history carries no covariate {name!r} (it carries {held}); "
                "build it with target_history(..., covariates=[...])"
            )
        return self.covariates[name]

    def until(self, end: datetime) -> TargetHistory:
        """Only the grid times before ``end``: what a model fitted at ``end`` may read."""
        n = int(self.bins([end])[0])
        if n < 1:
            raise DataError(f"no history before {end}")
        cut = min(n, self.values.shape[1])
        return TargetHistory(
            self.values[:, :cut].copy(),
            self.series_ids,
            self.start,
            self.step,
            self.series,
            {name: m[:, :cut].copy() for name, m in self.covariates.items()},
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
    tables: TaskTables,
    start: datetime,
    end: datetime,
    covariates: Sequence[str] = (),
) -> TargetHistory:
    """The task's targets on its grid from ``start`` to ``end`` (both floored to the grid),
    with the named observed covariates (``features.observed``) beside them."""
    task, targets = tables.task, tables.targets
    declared = {cov.name: cov for cov in task.features.observed}
    unknown = sorted(set(covariates) - set(declared))
    if unknown:
        raise ConfigError(
            f"no observed covariate named {unknown} in task {task.name!r}; declared: "
            f"{sorted(declared) or 'none'}",
            key="features.observed",
        )
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
    carried = {}
    if covariates:
        wanted = [declared[name] for name in dict.fromkeys(covariates)]
        signals = {cov.signal for cov in wanted}
        readings = punctual_readings(
            tables.observations, tables.series.filter(pl.col("signal").is_in(signals))
        )
        in_rows = targets.sort("series_id")  # the grid's rows are the targets by id
        assert tuple(in_rows["series_id"]) == grid.ids
        for cov in wanted:
            carried[cov.name] = covariate_steps(
                readings, tables.series, in_rows, cov, task, first, last
            )
    return TargetHistory(grid.now, grid.ids, first, step, targets, carried)
