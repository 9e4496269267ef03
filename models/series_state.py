"""The plain data of a per-series statistical model (``ets``, ``sarimax``).

A fit or forecast of one series runs in a worker process (:mod:`models.series_pool`), so what
a worker needs travels as small picklable values: the configuration resolved once from the
parameters and the task (:class:`_Config`), and one series' fitted model as numpy arrays and
numbers (:class:`_Fitted`), never statsmodels results. The same values are pickled with the
forecaster into MLflow, which is why they live in a module of their own that the fitting and
forecasting modules can import without importing the forecasters; the names keep their
leading underscore because pickles name them (see :mod:`models.statistical`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from features import LOCAL_TZ, DayCalendar

MIN_POINTS = 48


@dataclass(frozen=True)
class _Config:
    """What the workers need to know, resolved from the parameters and the task."""

    family: str
    fit_steps: int
    filter_steps: int
    max_gap_steps: int
    intervals: str
    quantiles: tuple[float, ...]
    max_h: int
    maxiter: int
    season_steps: int  # 0: no season
    trend: bool = False
    damped: bool = True
    order: tuple[int, int, int] = (2, 0, 0)
    seasonal_order: tuple[int, int, int] = (0, 0, 0)
    fourier: int = 0
    calendar: tuple[str, ...] = ()
    timezone: str = LOCAL_TZ  # the clock of the daily Fourier terms and calendar flags
    days: DayCalendar = field(default_factory=DayCalendar)  # whose holidays, working days
    joint: bool = False
    select_season: bool = True
    rain: str | None = None  # an observed covariate entering SARIMAX as trailing sums
    rain_windows: tuple[int, ...] = ()  # their lengths in steps
    rain_forecast: str | None = None  # the known-ahead column with the rain forecast

    def __setstate__(self, state: dict[str, object]) -> None:
        """A model pickled before ``days`` existed read China's calendar, as it still does."""
        self.__dict__.update({"days": DayCalendar(), **state})

    @property
    def min_points(self) -> int:
        # ETS drops a season the data cannot carry; a seasonal ARIMA needs three periods
        return MIN_POINTS if self.family == "ets" else max(MIN_POINTS, 3 * self.season_steps)

    @property
    def z(self) -> np.ndarray:
        return np.array([NormalDist().inv_cdf(q) for q in self.quantiles])


@dataclass
class _Fitted:
    """One series' fitted model as plain arrays (``kind``: ets, sarimax or fallback)."""

    kind: str = "fallback"
    reason: str = ""
    points: int = 0
    converged: bool | None = None
    season_steps: int = 0
    median: float = float("nan")
    scale: float = 0.0  # forecast error variance (ETS) or the concentrated scale (SARIMAX)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)
    errors: np.ndarray | None = None  # (max_h, n_q) empirical error quantiles per step
    dispersion: np.ndarray | None = None  # (max_h,) negative-binomial dispersion per step
