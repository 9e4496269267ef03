"""Travel times from each upstream gauge to the gauge it feeds, estimated from the data.

A flood wave passes the upstream gauge first; how long it takes to reach the target is what
turns the upstream reading into a lead. Where a task asks for ``travel: estimate`` on a
per-member covariate (``each``), the travel time of each (target, member) link is the lag, up to
``max_travel``, at which the member's change over the last hour best correlates with the
target's, on the readings before ``until`` (the first evaluated origin: what a model fitted
then could know). The estimate is written into the task config (``travel: {target: {member:
lag}}``), so the run records it, the trained model carries it and serving reads the same lag.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.covariates import covariate_grid
from features.durations import Duration, format_duration
from features.grid import dense_values, floor_to_grid, punctual_readings, steps
from features.links import member_lists
from features.task_tables import TaskTables
from features.tasks import LinkedCovariate

log = logging.getLogger(__name__)

# a link whose best correlation is below this carries no travel time (its feature is empty,
# and said so in the log)
MIN_CORRELATION = 0.2


def estimate_travel(tables: TaskTables, until: datetime) -> TaskTables:
    """The tables with their task's ``travel: estimate`` links resolved to lags (unchanged when
    the task estimates none)."""
    task = tables.task
    if not any(cov.travel == "estimate" for cov in task.features.observed):
        return tables
    observed = tuple(
        _estimated(tables, cov, until) if cov.travel == "estimate" else cov
        for cov in task.features.observed
    )
    recipe = task.features.model_copy(update={"observed": observed})
    resolved = task.model_copy(update={"features": recipe})
    return replace(tables, task=resolved)


def _estimated(tables: TaskTables, cov: LinkedCovariate, until: datetime) -> LinkedCovariate:
    task = tables.task
    step = task.step
    series = tables.series
    signals = [task.target.signal, cov.signal]
    obs = tables.observations.filter(pl.col("ts") < until)
    start = obs["ts"].min()
    if not isinstance(start, datetime):
        return cov.model_copy(update={"travel": {}})
    readings = punctual_readings(obs, series.filter(pl.col("signal").is_in(signals)))
    first = floor_to_grid(start, step)
    last = until - step
    target_ids = tables.targets["series_id"].to_list()
    targets = dense_values(
        readings, target_ids, aggregation="last", step=step, start=first, end=last
    )
    member_ids, members = covariate_grid(readings, series, cov, task, first, last, None)
    row_of = {sid: i for i, sid in enumerate(member_ids)}
    hour = steps(timedelta(hours=1), step)
    max_lag = int(cov.max_travel // step)
    listed: dict[str, list[str]] = {}
    links = member_lists(tables.targets, cov.link.removeprefix("members:"))
    for source, member in links.iter_rows():
        listed.setdefault(source, []).append(member)
    travel: dict[str, dict[str, Duration]] = {}
    weak: list[str] = []
    assert cov.each is not None
    for i, target in enumerate(target_ids):
        for member in (listed.get(target) or [])[: cov.each]:
            if member not in row_of:
                continue
            lag, corr = best_lag(
                _change(members[row_of[member]], hour), _change(targets[i], hour), max_lag
            )
            if lag is None or corr < MIN_CORRELATION:
                weak.append(f"{member}->{target}")
                continue
            travel.setdefault(target, {})[member] = Duration(format_duration(lag * step))
    log.info(
        "%s: %s travel times estimated on data before %s: %s",
        task.name,
        cov.name,
        f"{until:%Y-%m-%d %H:%M}",
        "; ".join(f"{m}->{t} {d}" for t, links in travel.items() for m, d in links.items()),
    )
    if weak:
        log.warning(
            "%s: no travel time for %d link(s) (hourly changes correlate below %.1f at every "
            "lag up to %s): %s; their %s_at_travel features stay empty",
            task.name,
            len(weak),
            MIN_CORRELATION,
            cov.max_travel,
            ", ".join(weak[:5]),
            cov.name,
        )
    return cov.model_copy(update={"travel": travel})


def _change(values: np.ndarray, n: int) -> np.ndarray:
    out = np.full_like(values, np.nan)
    out[n:] = values[n:] - values[:-n]
    return out


def best_lag(upstream: np.ndarray, target: np.ndarray, max_lag: int) -> tuple[int | None, float]:
    """The lag ``L`` in ``0..max_lag`` (bins) maximising the correlation of ``upstream[t - L]``
    with ``target[t]`` over the bins where both are known, and that correlation."""
    best: tuple[int | None, float] = (None, -1.0)
    for lag in range(max_lag + 1):
        a = upstream[: len(upstream) - lag] if lag else upstream
        b = target[lag:]
        known = np.isfinite(a) & np.isfinite(b)
        if known.sum() < 10:
            continue
        x, y = a[known], b[known]
        if x.std() == 0 or y.std() == 0:
            continue
        corr = float(np.corrcoef(x, y)[0, 1])
        if corr > best[1]:
            best = (lag, corr)
    return best
