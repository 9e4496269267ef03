"""What a neural network sees: scaled target windows, scaled row features, rows as samples.

Networks learn in per-series scaled units: :class:`SeriesScaler` holds each series' location
and scale from the training history, and :func:`scaled_windows` reads the last ``context``
steps of the target (never past a row's origin) in those units with a known-flag channel.
:class:`FeatureScaler` standardises the row features. :class:`Batchable` groups rows into
training samples (one series at one origin, or every series at one origin), which is the one
thing the two families see differently. The scalers are fitted once and pickled with the
model, so they are plain frozen dataclasses of numpy arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from features import DataError, TargetHistory

_FEATURE_CLAMP = 50.0  # standardised features beyond this many deviations are clamped


@dataclass(frozen=True)
class SeriesScaler:
    """Per-series location and scale of the target, from the training history only.

    A series that barely moved in training (a ponding sensor that never flooded) gets a scale
    no smaller than a quarter of the pooled one, so its first real storm is not hundreds of
    scaled units deep.
    """

    series_ids: tuple[str, ...]
    loc: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, history: TargetHistory) -> SeriesScaler:
        v = history.values
        known = np.isfinite(v)
        if not known.any():
            raise DataError("the target history holds no values to scale by")
        pooled = float(np.nanstd(v)) or 1.0
        counts = known.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            loc = np.where(counts > 0, np.nansum(v, axis=1) / np.maximum(counts, 1), 0.0)
            dev = np.where(known, v - loc[:, None], 0.0)
            std = np.sqrt((dev**2).sum(axis=1) / np.maximum(counts, 1))
        scale = np.maximum(std, 0.25 * pooled)
        loc = np.where(counts > 0, loc, float(np.nanmean(v)))
        return cls(history.series_ids, loc.astype(np.float64), scale.astype(np.float64))

    def index(self, series_ids: list[str] | tuple[str, ...]) -> np.ndarray:
        pos = {s: i for i, s in enumerate(self.series_ids)}
        missing = sorted({s for s in series_ids if s not in pos})
        if missing:
            raise DataError(f"the model was not fitted on series {missing[:5]}")
        return np.array([pos[s] for s in series_ids], dtype=np.int64)


@dataclass(frozen=True)
class FeatureScaler:
    """Standardise the row features; NaN becomes 0 plus a missing flag for columns that had
    gaps in training. Cyclic calendar columns (``cal_hour``, ``cal_minute_of_day``, ...) also
    get a sine and cosine of their phase, so midnight sits next to 23:00 (trees split a clock
    anywhere; a small MLP cannot)."""

    columns: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    flagged: tuple[int, ...]

    @classmethod
    def fit(cls, rows: pl.DataFrame, columns: tuple[str, ...]) -> FeatureScaler:
        x = _matrix(rows, columns)
        with warnings.catch_warnings():  # a column with no values at all scales as 0 / 1
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nan_to_num(np.nanmean(x, axis=0)) if x.size else np.zeros(len(columns))
            std = np.nan_to_num(np.nanstd(x, axis=0)) if x.size else np.ones(len(columns))
        flagged = tuple(int(i) for i in np.nonzero(np.isnan(x).any(axis=0))[0])
        return cls(columns, mean, np.where(std > 1e-9, std, 1.0), flagged)

    @property
    def cycles(self) -> list[tuple[int, float]]:
        return [(i, _CYCLES[c]) for i, c in enumerate(self.columns) if c in _CYCLES]

    @property
    def width(self) -> int:
        return len(self.columns) + len(self.flagged) + 2 * len(self.cycles)

    def transform(self, rows: pl.DataFrame) -> np.ndarray:
        x = _matrix(rows, self.columns)
        missing = np.isnan(x)
        z = np.clip((x - self.mean) / self.std, -_FEATURE_CLAMP, _FEATURE_CLAMP)
        z = np.where(missing, 0.0, z)
        flags = missing[:, list(self.flagged)].astype(np.float64)
        waves = []
        for i, period in self.cycles:
            phase = 2 * np.pi * np.nan_to_num(x[:, i]) / period
            waves += [np.sin(phase), np.cos(phase)]
        return np.column_stack([z, flags, *waves]).astype(np.float32)


# the features.calendar columns that wrap around, and their periods
_CYCLES = {
    "cal_hour": 24.0,
    "cal_minute_of_day": 1440.0,
    "cal_hour_of_week": 168.0,
    "cal_weekday": 7.0,
    "cal_month": 12.0,
    "cal_doy": 365.25,
}


def _matrix(rows: pl.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    if not columns:
        return np.zeros((rows.height, 0))
    x = rows.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()
    x = x.astype(np.float64)
    x[~np.isfinite(x)] = np.nan
    return x


@dataclass
class Batchable:
    """Rows grouped into samples: ``order[starts[s]:starts[s + 1]]`` are sample ``s``'s rows.

    ``windows`` is per sample: ``(samples, steps, 2)`` for a series at an origin, or
    ``(samples, series, steps, 2)`` for every series at an origin; ``node`` says which
    series of its sample a row is (0 where a sample is one series)."""

    windows: np.ndarray
    x: np.ndarray
    code: np.ndarray
    node: np.ndarray
    sample: np.ndarray
    y: np.ndarray | None = None
    weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.order = np.argsort(self.sample, kind="stable")
        counts = np.bincount(self.sample, minlength=len(self.windows))
        self.starts = np.concatenate([[0], np.cumsum(counts)])

    @property
    def n_samples(self) -> int:
        return len(self.windows)

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """``y`` and ``weight`` of rows built for training or validation (rows built for
        prediction carry neither)."""
        if self.y is None or self.weight is None:
            raise ValueError("these rows were built without targets")
        return self.y, self.weight

    def rows_of(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of ``samples`` (in sample order) and each row's position in ``samples``."""
        lo, hi = self.starts[samples], self.starts[samples + 1]
        counts = hi - lo
        local = np.repeat(np.arange(len(samples)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.order[np.repeat(lo, counts) + offsets], local


def scaled_windows(
    history: TargetHistory,
    scaler: SeriesScaler,
    hist_rows: np.ndarray,
    end_bins: np.ndarray,
    length: int,
) -> np.ndarray:
    """``(n, length, 2)`` float32: the per-series scaled target up to each end bin (0 where
    unknown) and a flag that it is known."""
    raw = history.windows(hist_rows, end_bins, length)
    known = np.isfinite(raw)
    sidx = scaler.index([history.series_ids[i] for i in hist_rows])
    z = (raw - scaler.loc[sidx, None]) / scaler.scale[sidx, None]
    z = np.where(known, np.clip(z, -_FEATURE_CLAMP, _FEATURE_CLAMP), 0.0)
    return np.stack([z, known.astype(np.float64)], axis=-1).astype(np.float32)


def history_bins(history: TargetHistory, rows: pl.DataFrame) -> np.ndarray:
    """The history column of each row's origin (the last bin it may read)."""
    return history.bins(rows["origin"]).astype(np.int64)
