"""A task's ``warning:`` section: which forecasts make a warning, at which of the four levels.

Three kinds of rule, one per way a city's duty officers judge trouble:

- ``threshold``: a value on a fixed scale (ponding depth 5/10/15/20 cm), each level's
  ``threshold`` for every target, or a target's own value from its catalog ``attrs`` (``attr``:
  a river gauge's ``warning_level_m``, plus an ``offset``), so gauges with different banks warn
  by data, not code;
- ``surge``: a count above its seasonal norm (the same hour of the same weekday over the
  trailing weeks, at least ``min_norm``) by each level's ``factor``;
- ``congestion``: a speed below each level's ``share`` of the sensor's free-flow speed (its
  ``free_flow_kmh`` attr, else learnt from its night-time speeds), on the listed corridors.

Thresholds are resolved per target and time by ``features.warning_thresholds``; this module
only says what a valid rule is, with the key path of anything wrong.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from features.config_model import StrictModel
from features.durations import Duration

LevelName = Literal["blue", "yellow", "orange", "red"]
SEVERITY: tuple[LevelName, ...] = ("blue", "yellow", "orange", "red")
_FIELDS = {"threshold": ("threshold", "attr"), "surge": ("factor",), "congestion": ("share",)}
_ALL_FIELDS = ("threshold", "attr", "factor", "share")


class ActionSpec(StrictModel):
    """What duty officers do at a level, said in both languages a message may go out in."""

    zh: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=300)


class WarningLevelSpec(StrictModel):
    """One level of a rule; which fields it takes depends on the rule's ``kind``; ``action``
    is what its messages tell officers to do."""

    level: LevelName
    action: ActionSpec | None = None
    threshold: float | None = None
    attr: str | None = None
    # added to the attr's value: blue 0.3 m below a gauge's warning level
    offset: float | None = None
    factor: float | None = Field(None, gt=1.0)
    share: float | None = Field(None, gt=0.0, lt=1.0)


class SurgeSpec(StrictModel):
    """The norm a surge is measured against: the mean count at the same hour of the same weekday
    over the trailing ``weeks`` weeks (all known at the origin), taken as at least ``min_norm``
    so that a quiet series does not surge on a call or two; a level's threshold is its factor
    times that norm. Counts can also surge where nothing forecast it (a burst main): an
    **unforecast surge** is read from the observations against the forecasts made for them."""

    weeks: int = Field(4, ge=1, le=12)
    min_norm: float = Field(2.0, ge=0.0)
    # an unforecast surge: the observed count above the latest forecast's
    # ``unforecast_quantile`` for ``unforecast_hours`` grid times in a row (0: never); it warns,
    # certain, at every level the observed count reaches (none below the lowest level's)
    unforecast_hours: int = Field(2, ge=0, le=24)
    unforecast_quantile: float = Field(0.9, gt=0.5, lt=1.0)


class CongestionSpec(StrictModel):
    """Each sensor's free-flow speed: its ``free_flow_attr`` where the catalog has it, else the
    ``quantile`` of its speeds in the local night hours ``[start, end)`` over the
    ``learn_window`` before the origin. Only sensors whose ``corridor_attr`` names one of
    ``corridors`` warn (every sensor when ``corridors`` is not given)."""

    free_flow_attr: str | None = "free_flow_kmh"
    quantile: float = Field(0.85, gt=0.0, lt=1.0)
    night_hours: tuple[int, int] = (0, 5)
    learn_window: Duration = Duration("7d")
    corridor_attr: str = "corridor"
    corridors: tuple[str, ...] | None = None

    @field_validator("night_hours")
    @classmethod
    def _night(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (0 <= v[0] < v[1] <= 24):
            raise ValueError(
                f"night hours {list(v)} must be [start, end) with 0 <= start < end <= 24"
            )
        return v


class WarningSpec(StrictModel):
    """The rule, the probability a level needs, and how it is held (hysteresis, ``hold``) and
    how soon a closed warning may come back as the same episode (``quiet``)."""

    kind: Literal["threshold", "surge", "congestion"] = "threshold"
    direction: Literal["above", "below"] = "above"
    levels: tuple[WarningLevelSpec, ...]
    probability: float = Field(0.5, gt=0.0, lt=1.0)
    clear_margin: float = Field(0.15, ge=0.0, lt=1.0)
    # a level is lowered only after it has been held this long; a warning that comes back
    # within quiet of closing is the same episode, reopened
    hold: Duration = Duration("30m")
    quiet: Duration = Duration("1h")
    event_threshold: float | None = None
    # an observed episode shorter than this is no event in the backtest's warning skill (one
    # implausible reading, a sensor spike, is not water anyone could have warned of)
    min_event: Duration | None = None
    # the horizons H at which the backtest reports "reaches the level within H" skill against
    # the rate-of-rise rule (default: the task's 1 h, 3 h and 6 h where it has them, and its
    # longest horizon)
    skill_horizons: tuple[Duration, ...] | None = None
    surge: SurgeSpec | None = None
    congestion: CongestionSpec | None = None

    @field_validator("levels")
    @classmethod
    def _levels(
        cls, v: tuple[WarningLevelSpec, ...], info: ValidationInfo
    ) -> tuple[WarningLevelSpec, ...]:
        if not v:
            raise ValueError("at least one level is needed")
        names = [lv.level for lv in v]
        if len(set(names)) != len(names):
            raise ValueError(f"each level once (got {names})")
        kind = info.data.get("kind", "threshold")
        allowed = _FIELDS[kind]
        for i, lv in enumerate(v):
            given = [
                f for f in ("threshold", "attr", "factor", "share") if getattr(lv, f) is not None
            ]
            wrong = [f for f in given if f not in allowed]
            if wrong or not given:
                raise ValueError(
                    f"levels[{i}] ({lv.level}): a {kind} rule's level takes "
                    f"{' and/or '.join(allowed)}" + (f", not {', '.join(wrong)}" if wrong else "")
                )
            if lv.offset is not None and lv.attr is None:
                raise ValueError(f"levels[{i}] ({lv.level}): offset is added to an attr; name one")
        return tuple(sorted(v, key=lambda lv: SEVERITY.index(lv.level)))

    @model_validator(mode="after")
    def _consistent(self) -> WarningSpec:
        if self.clear_margin >= self.probability:
            raise ValueError(
                f"clear_margin {self.clear_margin} must be below probability {self.probability}"
            )
        need = {"surge": "above", "congestion": "below"}.get(self.kind)
        if need is not None and self.direction != need:
            raise ValueError(f"a {self.kind} rule's direction is {need!r}")
        for other in ("surge", "congestion"):
            if getattr(self, other) is not None and self.kind != other:
                raise ValueError(f"a {self.kind} rule takes no {other!r} section")
        values = {
            "threshold": [lv.threshold for lv in self.levels],
            "surge": [lv.factor for lv in self.levels],
            "congestion": [lv.share for lv in self.levels],
        }[self.kind]
        known = [x for x in values if x is not None]
        rising = self.direction == "above" if self.kind == "threshold" else self.kind == "surge"
        if any((b <= a) if rising else (b >= a) for a, b in pairwise(known)):
            word = "increase" if rising else "decrease"
            field = {"threshold": "thresholds", "surge": "factors", "congestion": "shares"}
            raise ValueError(f"{field[self.kind]} must {word} with severity: {known}")
        return self

    @property
    def surge_norm(self) -> SurgeSpec:
        return self.surge or SurgeSpec()

    @property
    def free_flow(self) -> CongestionSpec:
        return self.congestion or CongestionSpec()
