"""Covariates read less often than the grid, and covariates that go silent. Hourly rain on a
10-minute grid used to leave every rain window sum empty (80 % of a window's bins must be
present) and the model trained without rain, silently: now the bins between readings count as
covered, and a column that still comes out mostly empty (a gauge silent for most of the data)
is reported by the backtest, printed and in its data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import yaml
from click.testing import CliRunner
from tiny_task import tiny_city, tiny_task_dict

from features import Store, parse_task
from training import backtest_command, prepare_backtest

TASK = tiny_task_dict(
    "tiny-sparse",
    model={"family": "lightgbm", "params": {"n_estimators": 10, "min_child_samples": 5}},
)


def _city(keep: pl.Expr):
    """The tiny city with its rain readings filtered by ``keep``."""
    city = tiny_city(days=2, seed=0)
    rain = city.series.filter(pl.col("signal") == "rain_mm")["series_id"]
    obs = city.observations.filter(~pl.col("series_id").is_in(rain.implode()) | keep)
    return replace(city, observations=obs)


def test_hourly_rain_on_a_ten_minute_grid_is_summed_not_dropped() -> None:
    hourly = _city(pl.col("ts").dt.minute() == 0)
    data = prepare_backtest(hourly, parse_task(TASK))
    assert data.sparse == []
    sums = data.frame["rain_sum_1h"]
    assert sums.null_count() < 0.1 * sums.len() and sums.max() > 0


def test_a_gauge_silent_for_most_of_the_data_is_reported_as_mostly_empty(tmp_path: Path) -> None:
    city = _city(pl.col("ts") < pl.col("ts").min() + pl.duration(hours=6))
    data = prepare_backtest(city, parse_task(TASK))
    sparse = {f.column: f.null_share for f in data.sparse}
    assert sparse.get("rain_sum_1h", 0.0) > 0.8, sparse
    assert all(c.startswith("rain") for c in sparse), sparse  # only rain's sums are empty

    store = Store(tmp_path / "data")
    for name in ("series", "observations", "events", "weather_forecasts", "areas"):
        store.write(name, getattr(city, name))
    task = tmp_path / "tiny.yaml"
    task.write_text(yaml.safe_dump(TASK))
    out = tmp_path / "p.parquet"
    args = ["--data", str(tmp_path / "data"), "--task", str(task), "--out", str(out)]
    run = CliRunner().invoke(backtest_command, args)
    assert run.exit_code == 0, run.output
    assert "mostly empty" in run.output and "rain_sum_1h" in run.output
