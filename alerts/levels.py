"""Warning levels and the rule that turns exceedance probabilities into one, without flapping.

Levels follow the Chinese four-colour convention (blue < yellow < orange < red, levels IV to I).
A level is raised as soon as the probability of crossing its threshold reaches the rule's
probability, but it is only lowered once that probability has fallen clearly below it
(``probability - clear_margin``) and the level has been held for ``hold``: duty officers act on
a warning, so a forecast wobbling around a threshold must not open and close it every ten
minutes. A warning that closes and comes back within ``quiet`` is the same episode, reopened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from itertools import pairwise
from typing import Any, Literal

from features import ConfigError, DataError

_COLOURS = ("none", "blue", "yellow", "orange", "red")
_NAMES_ZH = ("无", "蓝色", "黄色", "橙色", "红色")
_ROMAN = ("", "IV", "III", "II", "I")
_HEX = ("#666666", "#1E6FD9", "#D4A100", "#FA6400", "#E02020")  # the colour a screen shows


class Level(IntEnum):
    """A warning level; the integer order is the severity order."""

    NONE = 0
    BLUE = 1
    YELLOW = 2
    ORANGE = 3
    RED = 4

    @property
    def colour(self) -> str:
        return _COLOURS[self]

    @property
    def name_zh(self) -> str:
        return _NAMES_ZH[self]

    @property
    def hex(self) -> str:
        """The colour a message or screen draws the level in (grey for NONE)."""
        return _HEX[self]

    @property
    def roman(self) -> str:
        """The official level number (红色 is level I); empty for NONE."""
        return _ROMAN[self]

    @classmethod
    def parse(cls, value: str | int | Level) -> Level:
        """Read a level from a colour ("yellow"), enum name, Chinese name ("黄色") or number.

        Raises:
            ConfigError: naming the allowed values, so a typo in a task config is caught early.
        """
        if isinstance(value, Level):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4:
            return cls(value)
        if isinstance(value, str):
            text = value.strip()
            for names in (_COLOURS, _NAMES_ZH):
                if text.lower() in names:
                    return cls(names.index(text.lower()))
            if text.upper() in cls.__members__:
                return cls[text.upper()]
        raise ConfigError(f"unknown warning level {value!r}; use one of {', '.join(_COLOURS)}")


Direction = Literal["above", "below"]


@dataclass(frozen=True)
class LevelRule:
    """How one target is graded: thresholds per level and the probability needed to act.

    ``direction`` says which side of a threshold is bad: "above" for ponding depth or call
    volume, "below" for traffic speed. Probabilities given to :func:`grade` are always the
    probability of being on the bad side of each threshold.
    """

    thresholds: dict[Level, float]
    direction: Direction = "above"
    probability: float = 0.5
    clear_margin: float = 0.15
    unit: str = ""
    hold: timedelta = timedelta(0)
    quiet: timedelta = timedelta(0)
    # what to do at each level, in Chinese and English (the task config's ``action``)
    actions: Mapping[Level, tuple[str, str]] = field(default_factory=dict, compare=False)
    _ordered: tuple[Level, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.thresholds:
            raise ConfigError("at least one level threshold is needed", key="thresholds")
        levels = {Level.parse(k): float(v) for k, v in self.thresholds.items()}
        if Level.NONE in levels:
            raise ConfigError("NONE has no threshold", key="thresholds")
        if self.direction not in ("above", "below"):
            raise ConfigError(f"{self.direction!r} is not 'above' or 'below'", key="direction")
        ordered = tuple(sorted(levels))
        values = [levels[lv] for lv in ordered]
        step = 1 if self.direction == "above" else -1
        if any(step * (b - a) <= 0 for a, b in pairwise(values)):
            word = "increase" if step == 1 else "decrease"
            raise ConfigError(f"thresholds must {word} with severity: {values}", key="thresholds")
        if not 0.0 < self.probability <= 1.0:
            raise ConfigError(f"{self.probability} is not in (0, 1]", key="probability")
        if not 0.0 <= self.clear_margin < self.probability:
            raise ConfigError(
                f"{self.clear_margin} must be >= 0 and below probability", key="clear_margin"
            )
        for name in ("hold", "quiet"):
            if getattr(self, name) < timedelta(0):
                raise ConfigError(f"{getattr(self, name)} is negative", key=name)
        object.__setattr__(self, "thresholds", levels)
        object.__setattr__(self, "actions", {Level.parse(k): v for k, v in self.actions.items()})
        object.__setattr__(self, "_ordered", ordered)

    def __hash__(self) -> int:  # thresholds is a dict; hash its items so rules can be keys
        items = tuple(sorted(self.thresholds.items()))
        return hash(
            (
                items,
                self.direction,
                self.probability,
                self.clear_margin,
                self.unit,
                self.hold,
                self.quiet,
            )
        )

    @property
    def levels(self) -> tuple[Level, ...]:
        """The levels this rule grades, least severe first."""
        return self._ordered

    def crosses(self, value: float, level: Level) -> bool:
        """Whether a value is on the bad side of (or at) a level's threshold."""
        threshold = self.thresholds[level]
        return value >= threshold if self.direction == "above" else value <= threshold

    def level_for(self, value: float) -> Level:
        """The level a known value (an observation, a median forecast) is at, ignoring chance."""
        return max((lv for lv in self._ordered if self.crosses(value, lv)), default=Level.NONE)

    @classmethod
    def from_spec(cls, spec: Any, *, unit: str = "") -> LevelRule:
        """Build a rule from a task config's ``warning`` section (``features.WarningSpec``) with
        the levels' fixed thresholds (a level whose threshold is each target's own is left out:
        serving builds each target's rule from its thresholds).

        Duck-typed so that ``alerts`` does not depend on the task-config module.
        """
        return cls(
            thresholds={
                Level.parse(x.level): x.threshold for x in spec.levels if x.threshold is not None
            },
            direction=spec.direction,
            probability=spec.probability,
            clear_margin=spec.clear_margin,
            unit=unit,
            hold=getattr(spec, "hold", timedelta(0)),
            quiet=getattr(spec, "quiet", timedelta(0)),
        )


PONDING_CM = LevelRule(
    {Level.BLUE: 5.0, Level.YELLOW: 10.0, Level.ORANGE: 15.0, Level.RED: 20.0}, unit="cm"
)
"""The city's own ponding-depth scale."""


def check_probabilities(probabilities: Mapping[Any, float]) -> dict[Level, float]:
    """Normalise keys to :class:`Level` and refuse values that are not probabilities."""
    out: dict[Level, float] = {}
    for key, p in probabilities.items():
        level = Level.parse(key)
        if not isinstance(p, int | float) or math.isnan(p) or not 0.0 <= p <= 1.0:
            raise DataError(f"probability {p!r} is not in [0, 1]", column=level.colour)
        out[level] = float(p)
    return out


def grade(probabilities: Mapping[Level, float], rule: LevelRule) -> Level:
    """The most severe level whose exceedance probability reaches ``rule.probability``.

    Levels missing from ``probabilities`` count as probability 0.
    """
    return _grade_below(probabilities, rule, Level.RED + 1)


def next_level(current: Level, probabilities: Mapping[Level, float], rule: LevelRule) -> Level:
    """The level after ``current`` given new probabilities, with hysteresis.

    Raising is immediate. The current level is held while its probability stays at or above
    ``rule.probability - rule.clear_margin``; once it falls below, the level drops to the grade
    of the less severe levels. So a probability oscillating within the margin never flaps.
    """
    graded = grade(probabilities, rule)
    if graded >= current:
        return graded
    if probabilities.get(current, 0.0) >= rule.probability - rule.clear_margin:
        return current
    return _grade_below(probabilities, rule, current)


def _grade_below(probabilities: Mapping[Level, float], rule: LevelRule, ceiling: int) -> Level:
    hits = [
        lv for lv in rule.levels if lv < ceiling and probabilities.get(lv, 0.0) >= rule.probability
    ]
    return max(hits, default=Level.NONE)
