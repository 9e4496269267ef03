"""Frames and feature specs for the PyTorch families' tests, built from a ``TargetHistory``."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from features import FeatureSpec, TargetHistory, TaskConfig


def frame_of(
    history: TargetHistory, first: int, last: int, horizons: tuple[int, ...]
) -> pl.DataFrame:
    """Rows for origins at bins ``first..last`` of every series and ``horizons`` (in steps):
    ``target_now`` and the horizon as features, ``y`` from the history."""
    step_min = history.step // timedelta(minutes=1)
    recs = []
    for i, sid in enumerate(history.series_ids):
        for b in range(first, last + 1):
            origin = history.start + b * history.step
            for h in horizons:
                recs.append(
                    {
                        "series_id": sid,
                        "origin": origin,
                        "horizon": h * history.step,
                        "ts": origin + h * history.step,
                        "area_id": "a",
                        "target_now": float(history.values[i, b]),
                        "horizon_min": h * step_min,
                        "y": float(history.values[i, b + h]),
                    }
                )
    return pl.DataFrame(recs).with_columns(
        pl.col("origin", "ts").dt.cast_time_unit("us"), pl.col("horizon").dt.cast_time_unit("us")
    )


def spec_for(task: TaskConfig, history: TargetHistory) -> FeatureSpec:
    """The current value, the horizon and the series code, as the families' tests use them."""
    return FeatureSpec(
        task=task.name,
        columns=("target_now", "horizon_min", "series_code"),
        categorical=("series_code",),
        series_codes={s: i for i, s in enumerate(sorted(history.series_ids))},
    )
