"""Task configs: what to forecast, declared in YAML, parsed into frozen, strict models.

A task names its target signal and series, its grid and horizons, the covariates and their
feature recipes, the model family, the backtest folds and the warning thresholds. Unknown keys
fail with their key path, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from features.config_model import StrictModel
from features.day_calendar import CHINA, CHINA_ONLY, DayCalendar, supported_countries
from features.durations import Duration
from features.errors import ConfigError, NotFoundError
from features.schemas import LOCAL_TZ, SIGNALS, Aggregation
from features.warning_config import WarningSpec


class EventTarget(StrictModel):
    """Targets counted from events (12345 tickets): one series per area, or per area and
    category, counting the events of ``source`` in each grid bin."""

    source: str
    categories: tuple[str, ...] | None = None
    by_category: bool = True
    # the categories' names for people (Chinese), carried into each count series' attrs
    names_zh: dict[str, str] = Field(default_factory=dict)


class TargetSpec(StrictModel):
    signal: str
    series_ids: tuple[str, ...] | None = None
    area_ids: tuple[str, ...] | None = None
    events: EventTarget | None = None


class WindowStat(StrictModel):
    """A rolling statistic over a time window (``q`` for the quantile)."""

    stat: Literal["mean", "std", "max", "min", "sum", "quantile"]
    window: Duration
    q: float | None = Field(None, gt=0.0, lt=1.0)

    @property
    def label(self) -> str:
        if self.stat == "quantile":
            return f"q{round((self.q or 0.5) * 100):02d}_{self.window}"
        return f"{self.stat}_{self.window}"


class LinkedCovariate(StrictModel):
    """An observed signal from a series linked to each target through its ``attrs``.

    ``link`` names the attrs key holding the linked series id (``rain_gauge``, ``river_gauge``),
    ``"members:<key>"`` for the mean over a list of series ids in the attrs (``neighbours`` on
    the road graph, ``upstream`` gauges), ``"area"`` for the mean over the target's area, or
    ``"city"`` for the city-wide mean.

    ``api_days``: antecedent precipitation index, the daily rain totals of the last
    ``api_days`` days weighted ``api_k ** d``; ``dry_hours``: hours since the value last
    exceeded 0.1, capped at that duration. Both have finite memory, so batch and online agree.

    ``each``: with a ``members:`` link, the first ``each`` members one by one, as listed (the
    nearest upstream gauge first), instead of their mean: a headwater gauge at 0.5 m and a
    middle one at 1.7 m are two signals, not one number. Their features are named
    ``<name><k>_...`` (``upstream1_level``), ``relative_to_attr`` reads each member's own attr
    (its level above its own warning level), and ``travel`` adds ``<name><k>_at_travel``, the
    member's reading one travel time before the origin: the water arriving at the target now,
    against which the member's level now says what is on its way. ``travel`` is configured per
    link (``{target: {member: 90m}}``) or ``estimate``: the lag up to ``max_travel`` at which the
    member's hourly change best correlates with the target's, on the data before the first
    evaluated origin, recorded with the run.
    """

    name: str
    signal: str
    link: str
    sums: tuple[Duration, ...] = ()
    maxes: tuple[Duration, ...] = ()
    changes: tuple[Duration, ...] = ()
    stats: tuple[WindowStat, ...] = ()
    level: bool = False
    relative_to_attr: str | None = None
    api_days: int | None = Field(None, ge=1, le=60)
    api_k: float = Field(0.85, gt=0.0, lt=1.0)
    dry_hours: Duration | None = None
    each: int | None = Field(None, ge=1, le=8)
    travel: Literal["estimate"] | dict[str, dict[str, Duration]] | None = None
    max_travel: Duration = Duration("6h")

    @model_validator(mode="after")
    def _members_each(self) -> LinkedCovariate:
        if self.each is not None and not self.link.startswith("members:"):
            raise ValueError(f"each reads a members: link one by one; {self.link!r} is not one")
        if self.travel is not None and self.each is None:
            raise ValueError("travel is read per member: set each (how many members)")
        return self


class EventCounts(StrictModel):
    """Counts of events (outages, incidents) in the target's area or the city over windows."""

    name: str
    source: str
    categories: tuple[str, ...] | None = None
    link: Literal["area", "city"] = "area"
    sums: tuple[Duration, ...]


class ForecastCovariate(StrictModel):
    """A known-ahead covariate: a weather forecast issued at or before the origin."""

    name: str
    variable: str
    aggregate: Literal["sum", "mean", "at"] = "sum"
    area: str | None = None  # a fixed area (e.g. the city for tide tables); None: the target's


class FeatureRecipe(StrictModel):
    target_lags: tuple[Duration, ...] = (Duration("10m"), Duration("30m"), Duration("1h"))
    target_maxes: tuple[Duration, ...] = (Duration("6h"),)
    target_changes: tuple[Duration, ...] = (Duration("30m"),)
    target_stats: tuple[WindowStat, ...] = ()
    fill_limit: Duration = Duration("30m")
    season_ref: Duration | None = None  # the seasonal-naive reference (value one season before ts)
    observed: tuple[LinkedCovariate, ...] = ()
    events: tuple[EventCounts, ...] = ()
    known_ahead: tuple[ForecastCovariate, ...] = ()
    calendar: tuple[str, ...] = ("hour", "month")
    # the IANA zone whose clock the calendar features (and week slots, daily regressors) read;
    # the city's own by default, another for data from elsewhere (a US counter's rush hours)
    timezone: str = LOCAL_TZ
    # whose public holidays and working days the day features read: China's official table
    # (with its make-up working days) by default, another country (and subdivision) from the
    # `holidays` package, plus days the config declares off or on
    country: str = CHINA
    subdivision: str | None = None
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()
    rainstorm_signal: bool = False
    series_category: bool = True
    # how each signal's readings add up in one grid bin where several fall in it, for signals
    # the product does not know (a user's call counts) or to override a known one's
    aggregation: tuple[tuple[str, Aggregation], ...] = ()

    @field_validator("aggregation", mode="before")
    @classmethod
    def _aggregation(cls, v: Any) -> Any:
        """Written as a mapping, ``{call_count: sum}``; kept as pairs (a config is hashable)."""
        return tuple(sorted(v.items())) if isinstance(v, dict) else v

    def aggregation_of(self, signal: str) -> Aggregation | None:
        """How ``signal`` aggregates onto this grid: as the task declares, else as the product
        knows the signal (rain adds up, speeds average, levels take the last value); None for
        a signal nobody declared, which a grid coarser than its readings then refuses."""
        declared = dict(self.aggregation)
        if signal in declared:
            return declared[signal]
        known = SIGNALS.get(signal)
        return known.aggregation if known is not None else None

    @property
    def days(self) -> DayCalendar:
        """The calendar the day features read."""
        return DayCalendar(self.country, self.subdivision, self.extra_holidays, self.extra_workdays)

    @model_validator(mode="after")
    def _country(self) -> FeatureRecipe:
        known = supported_countries()
        if self.country not in known:
            raise ValueError(
                f"unknown country {self.country!r}: use an ISO 3166 code the `holidays` package "
                "knows, such as CN, US, GB or DE"
            )
        if self.country == CHINA and self.subdivision is not None:
            raise ValueError(
                "China's calendar is the national one: leave `subdivision` out, and declare a "
                "local day off in `extra_holidays`"
            )
        subdivisions = known[self.country]
        if self.subdivision is not None and self.subdivision not in subdivisions:
            shown = ", ".join(subdivisions[:12]) + (" ..." if len(subdivisions) > 12 else "")
            raise ValueError(
                f"{self.country} has no subdivision {self.subdivision!r}"
                + (f"; it has {shown}" if subdivisions else "; it has none")
            )
        china_only = sorted(CHINA_ONLY & {*self.calendar})
        if self.country != CHINA and china_only:
            raise ValueError(
                f"calendar features {china_only} come from China's calendar (Fuzhou's school "
                f"terms, the lunar new year), not {self.country}'s: drop them, or declare the "
                "days as events"
            )
        both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
        if both:
            raise ValueError(f"{both[0]} is declared both a holiday and a working day")
        return self

    @field_validator("calendar")
    @classmethod
    def _calendar(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from features.calendar import CALENDAR_FEATURES

        unknown = [n for n in v if n not in CALENDAR_FEATURES]
        if unknown:
            raise ValueError(
                f"unknown calendar features {unknown}; allowed: "
                f"{', '.join(sorted(CALENDAR_FEATURES))}"
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as 'Asia/Shanghai'"
            ) from err
        return v


class ModelSpec(StrictModel):
    family: str
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the model is named in predictions and metrics (``name``, else the family)."""
        return self.name or self.family


class SelectionSpec(StrictModel):
    """How the backtest picks among the model and its candidates.

    ``metric`` is the primary metric (lower is better); ``ensemble`` averages the quantiles of
    the ``top`` families weighted by inverse error, with the weights of each fold learned on
    the folds before it (the first fold weighs them equally), so the ensemble's backtest is as
    out-of-sample as its members'.
    """

    metric: Literal["mae", "rmse", "crps"] = "mae"
    ensemble: bool = False
    top: int = Field(3, ge=2, le=8)


class CalibrationSpec(StrictModel):
    """Quantile recalibration on a held-out tail of the training window, on by default
    (``method: none`` turns it off): an uncalibrated 80 % interval covered 70.8 % of a new
    traffic counter's outcomes. The held-out tail is by default as long as a backtest fold, so
    each fold's model is the next fold's probe and calibrating costs one fit more per family.

    ``scale``: each quantile's distance from the median is scaled per horizon so that its
    empirical level on the held-out tail matches the nominal one (a point mass at the median,
    a dry sensor, stays a point mass). The model is then refitted on the whole window, and the
    scales applied to it.
    """

    method: Literal["none", "scale"] = "scale"
    holdout: Duration = Duration("7d")  # when not given: the task's backtest.fold_length


class PromotionSpec(StrictModel):
    """When a newly trained model may replace the champion.

    The challenger and the champion's configuration are scored on the same folds; the
    challenger is promoted only if its mean primary metric is lower by at least ``margin``
    (a fraction of the champion's) and a one-sided paired test across (fold, series) pairs
    rejects "no better" at level ``alpha``.
    """

    margin: float = Field(0.01, ge=0.0, lt=1.0)
    alpha: float = Field(0.05, gt=0.0, lt=0.5)


class TrainSpec(StrictModel):
    origin_stride: Duration = Duration("1h")
    history: Duration = Duration("365d")
    quiet_fraction: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 7


class BacktestSpec(StrictModel):
    folds: int = Field(3, ge=1, le=52)
    fold_length: Duration = Duration("7d")
    origin_stride: Duration = Duration("1h")
    min_train: Duration = Duration("14d")


class TaskConfig(StrictModel):
    name: str
    domain: Literal["waterlogging", "rivers", "hotline", "traffic"] | str
    description: str = ""
    target: TargetSpec
    frequency: Duration
    horizons: tuple[Duration, ...]
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    features: FeatureRecipe = FeatureRecipe()
    model: ModelSpec
    candidates: tuple[ModelSpec, ...] = ()
    selection: SelectionSpec = SelectionSpec()
    calibration: CalibrationSpec = CalibrationSpec()
    promotion: PromotionSpec = PromotionSpec()
    baseline: ModelSpec = ModelSpec(family="seasonal_naive")
    # the rule a warning task's model must beat at warning (scored by the same engine)
    warning_baseline: ModelSpec = ModelSpec(family="rate_of_rise")
    train: TrainSpec = TrainSpec()
    backtest: BacktestSpec = BacktestSpec()
    warning: WarningSpec | None = None

    @model_validator(mode="after")
    def _distinct_labels(self) -> TaskConfig:
        labels = [m.label for m in (self.model, *self.candidates, self.baseline)]
        if self.warning is not None:
            labels.append(self.warning_baseline.label)
        if len(set(labels)) != len(labels) or "ensemble" in labels:
            raise ValueError(
                f"model, candidates, baseline and warning_baseline need distinct names (got "
                f"{labels}; 'ensemble' is reserved): give repeated families a `name`"
            )
        return self

    @model_validator(mode="after")
    def _skill_horizons(self) -> TaskConfig:
        given = self.warning.skill_horizons if self.warning is not None else None
        for h in given or ():
            if not (self.step <= h <= max(self.horizons)):
                raise ValueError(
                    f"warning.skill_horizons: {h} is outside the task's horizons "
                    f"({self.frequency} .. {max(self.horizons)})"
                )
        return self

    @property
    def lead_horizons(self) -> list[timedelta]:
        """The horizons lead skill is reported at (``warning.skill_horizons``, else the task's
        1 h, 3 h and 6 h where it has them, and its longest)."""
        given = self.warning.skill_horizons if self.warning is not None else None
        if given:
            return sorted(set(given))
        usual = {timedelta(hours=h) for h in (1, 3, 6)}
        return sorted({h for h in self.horizons if h in usual} | {max(self.horizons)})

    @model_validator(mode="after")
    def _calibration_holdout(self) -> TaskConfig:
        """A holdout not given is a backtest fold long (see :class:`CalibrationSpec`)."""
        given = "calibration" in self.model_fields_set and (
            "holdout" in self.calibration.model_fields_set
        )
        if not given and self.calibration.holdout != self.backtest.fold_length:
            calibration = CalibrationSpec(
                method=self.calibration.method, holdout=self.backtest.fold_length
            )
            object.__setattr__(self, "calibration", calibration)
        return self

    @model_validator(mode="after")
    def _unforecast_quantile(self) -> TaskConfig:
        warning = self.warning
        surge = warning.surge_norm if warning is not None and warning.kind == "surge" else None
        if (
            surge is not None
            and surge.unforecast_hours
            and (surge.unforecast_quantile not in self.quantiles)
        ):
            raise ValueError(
                f"warning.surge.unforecast_quantile {surge.unforecast_quantile} is not one of the "
                f"task's quantiles {list(self.quantiles)}"
            )
        return self

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, v: Duration) -> Duration:
        if v <= timedelta(0):
            raise ValueError("the frequency must be longer than zero")
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v: tuple[Duration, ...]) -> tuple[Duration, ...]:
        if not v:
            raise ValueError("at least one horizon is needed")
        return v

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not all(0.0 < q < 1.0 for q in v) or list(v) != sorted(set(v)):
            raise ValueError("quantiles must be increasing, distinct and strictly between 0 and 1")
        if not {0.1, 0.5, 0.9} <= set(v):
            raise ValueError("quantiles must include 0.1, 0.5 and 0.9 (the Forecast contract)")
        return v

    @property
    def step(self) -> timedelta:
        """The grid step (``frequency``) as a timedelta."""
        return self.frequency

    @property
    def max_horizon(self) -> timedelta:
        """The longest horizon: how far past an origin a forecast (and its target) reaches."""
        return max(self.horizons)

    def horizon_steps(self) -> list[int]:
        """Horizons as whole numbers of grid steps; each must be a multiple of the frequency."""
        step = self.step
        out = []
        for i, h in enumerate(self.horizons):
            if h % step:
                raise ConfigError(
                    f"horizon {h} is not a multiple of the frequency {self.frequency}",
                    key=f"horizons[{i}]",
                )
            out.append(h // step)
        return out


def shipped_tasks_dir() -> Path:
    """Where the shipped task configs live (``experiments/tasks``), overridable by env."""
    override = os.environ.get("CITYBRAIN_TASKS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "experiments" / "tasks"


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_task(raw: dict[str, Any], *, source: str = "<config>") -> TaskConfig:
    """Validate a task config mapping; the first error names its key path and what is allowed."""
    try:
        task = TaskConfig.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = _key_path(first["loc"])
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        elif first["type"] == "literal_error":
            msg = f"{msg} (got {first.get('input')!r})"
        raise ConfigError(f"{msg} in {source}", key=key) from None
    task.horizon_steps()
    return task


def load_task(name_or_path: str | Path) -> TaskConfig:
    """Load a shipped task by name (``waterlogging``) or any task config by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = shipped_tasks_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in shipped_tasks_dir().glob("*.yaml"))
            raise NotFoundError(f"no task {name_or_path!r}; shipped tasks: {', '.join(known)}")
    if not path.exists():
        raise NotFoundError(f"task config {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of task keys")
    return parse_task(raw, source=str(path))
