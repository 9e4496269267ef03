"""A data-quality report on observations: coverage, gaps, outliers, duplicates and late arrivals.

Ingest prints it so that a data scientist sees at once what a file brought and what is wrong with
it, before any model trains on it. Nothing here changes data: outliers and stuck runs are flagged,
not dropped, because a real flood peak can look like a spike. The work is a few vectorised Polars
passes over the rows sorted by (series_id, ts), so ten million rows take seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import polars as pl

from features.schemas import SIGNALS, UTC_TS

WINDOW = 5  # points in the centred rolling median a spike is measured against
SPIKE_K = 6.0  # a spike is farther than SPIKE_K robust deviations from that median ...
SPIKE_FLOOR = 0.05  # ... and than this share of the signal's physical range (or the series')
STUCK_POINTS = 12  # a run of this many identical non-zero values is a stuck sensor
LATE_US = 3_600_000_000  # received more than an hour after its timestamp


@dataclass(frozen=True)
class QualityRow:
    """Counts for one signal, or for all (signal ``"all"``)."""

    signal: str
    rows: int
    series: int
    start: datetime | None
    end: datetime | None
    gaps: int
    missing: int
    spikes: int
    out_of_range: int
    stuck_runs: int
    stuck_points: int
    duplicates: int
    late: int


@dataclass(frozen=True)
class QualityReport:
    """Per-signal rows and the overall row; ``to_text`` is what the command line prints."""

    signals: tuple[QualityRow, ...]
    overall: QualityRow

    def to_dict(self) -> dict[str, Any]:
        def plain(row: QualityRow) -> dict[str, Any]:
            out = asdict(row)
            out["start"] = row.start.isoformat() if row.start else None
            out["end"] = row.end.isoformat() if row.end else None
            return out

        return {"signals": [plain(r) for r in self.signals], "overall": plain(self.overall)}

    def to_text(self) -> str:
        names = [f.name for f in fields(QualityRow)]
        cells = [names] + [
            [_cell(getattr(row, n)) for n in names] for row in (*self.signals, self.overall)
        ]
        widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
        lines = [
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in cells
        ]
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "-" if value is None else str(value)


def quality_report(
    observations: pl.DataFrame,
    catalog: pl.DataFrame,
    *,
    dropped: Mapping[str, int] | None = None,
) -> QualityReport:
    """Summarise observations per signal of ``catalog`` (unknown series count as ``"unknown"``).

    Per series the cadence is the median interval; a gap is an interval of two cadences or more,
    and its missing points are the cadences it skips. A spike lies farther from the centred
    rolling median than ``SPIKE_K`` robust deviations (1.4826 x the series' median absolute
    residual) and than ``SPIKE_FLOOR`` of the signal's range, so flat series (rain at zero) do
    not flag noise; points within ``WINDOW // 2`` of a series' ends are not judged. A stuck run is
    ``STUCK_POINTS`` or more identical non-zero values. ``dropped`` counts exact repeats removed
    by validation, per series_id.
    """
    per_series = _per_series(observations, catalog)
    if dropped:
        extra = pl.DataFrame(
            {"series_id": list(dropped), "duplicates": list(dropped.values())},
            schema={"series_id": pl.String, "duplicates": pl.Int64},
        )
        per_series = per_series.join(extra, on="series_id", how="left")
    else:
        per_series = per_series.with_columns(duplicates=pl.lit(0, pl.Int64))
    counts = [f.name for f in fields(QualityRow)][5:]
    summary = [
        pl.len().alias("series"),
        pl.col("rows").sum(),
        pl.col("start").min(),
        pl.col("end").max(),
        *[pl.col(c).fill_null(0).sum() for c in counts if c != "rows"],
    ]
    by_signal = per_series.group_by("signal").agg(summary).sort("signal")
    overall = per_series.select(summary).with_columns(signal=pl.lit("all"))
    rows = [_row(r) for r in by_signal.iter_rows(named=True)]
    return QualityReport(tuple(rows), _row(overall.row(0, named=True)))


def _row(record: dict[str, Any]) -> QualityRow:
    return QualityRow(**{f.name: record[f.name] for f in fields(QualityRow)})


def _per_series(observations: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """Per-series counts from one sorted pass: shifts across the whole sorted column, masked where
    they cross into another series, are much faster than per-group windows over many series."""
    signals = pl.DataFrame(
        [(name, spec.low, spec.high) for name, spec in SIGNALS.items()],
        schema=["signal", "low", "high"],
        orient="row",
    )
    info = (
        catalog.select("series_id", "signal")
        .unique("series_id", keep="last")
        .join(signals, on="signal", how="left")
    )
    received = pl.col("received_at") if "received_at" in observations.columns else pl.lit(None)
    points = (
        observations.select("series_id", "ts", "value", received.cast(UTC_TS).alias("received_at"))
        .join(info, on="series_id", how="left")
        .with_columns(pl.col("signal").fill_null("unknown"))
        .sort("series_id", "ts")
    )
    same = pl.col("series_id") == pl.col("series_id").shift()
    inside = same & (pl.col("series_id") == pl.col("series_id").shift(-(WINDOW // 2)))
    inside = inside & (pl.col("series_id").shift(WINDOW // 2) == pl.col("series_id"))
    points = points.with_columns(
        step=pl.when(same).then(pl.col("ts").diff().dt.total_microseconds()),
        residual=pl.when(inside).then(
            (pl.col("value") - pl.col("value").rolling_median(WINDOW, center=True)).abs()
        ),
        run=((pl.col("value") != pl.col("value").shift()) | ~same).fill_null(True).cum_sum(),
        late=(pl.col("received_at") - pl.col("ts")).dt.total_microseconds() > LATE_US,
        out_of_range=~pl.col("value").is_between(pl.col("low"), pl.col("high")),
    )
    # Per-series scales broadcast back to rows, so that the aggregation below is plain sums.
    cadence = pl.col("step").median().over("series_id")
    spread = pl.coalesce(
        pl.col("high") - pl.col("low"), pl.col("value").max() - pl.col("value").min()
    ).over("series_id")
    limit = pl.max_horizontal(
        SPIKE_K * 1.4826 * pl.col("residual").median().over("series_id"), SPIKE_FLOOR * spread
    )
    is_gap = (pl.col("step") >= 2 * cadence) & (cadence > 0)
    points = points.with_columns(
        gap=is_gap,
        spike=pl.col("residual") > limit,
        skipped=pl.when(is_gap).then((pl.col("step") / cadence).round() - 1),
    )
    stats = points.group_by("series_id", "signal").agg(
        rows=pl.len(),
        start=pl.col("ts").min(),
        end=pl.col("ts").max(),
        gaps=pl.col("gap").sum(),
        missing=pl.col("skipped").sum().cast(pl.Int64),
        spikes=pl.col("spike").sum(),
        out_of_range=pl.col("out_of_range").sum(),
        late=pl.col("late").sum(),
    )
    repeats = same & (pl.col("value") == pl.col("value").shift()) & (pl.col("value") != 0)
    runs = (
        points.filter(repeats)
        .group_by("series_id", "run")
        .agg(n=pl.len() + 1)
        .filter(pl.col("n") >= STUCK_POINTS)
        .group_by("series_id")
        .agg(stuck_runs=pl.len(), stuck_points=pl.col("n").sum())
    )
    return stats.join(runs, on="series_id", how="left")
