"""Duty rosters: who is told of a warning, and who next when nobody acknowledges it.

A roster file (YAML) lists, per domain and area, tiers of people (the duty officer, the shift
leader, the director), each told ``after`` so long without an acknowledgement, with the
channels that reach them; and how often an unacknowledged warning is sent again at each level.
It is validated on load, so a typo in the file stops the service at start with the key path,
never at three in the morning when the storm comes.

```yaml
timezone: Asia/Shanghai
renotify: {blue: 60m, yellow: 30m, orange: 15m, red: 10m}
rosters:
  - domain: waterlogging        # or "*"
    area: "*"                   # or an area id; the most specific entry wins
    tiers:
      - name: 值班员
        after: 0m
        contacts: [{name: 张伟, channels: [webhook]}]
      - name: 值班领导
        after: 15m
        contacts: [{name: 李强, channels: [webhook-2], timezone: Asia/Shanghai}]
```
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.config_files import read_yaml, validate_file_model
from alerts.levels import Level
from alerts.messages import CITY_TZ
from features import Duration

LevelName = Literal["blue", "yellow", "orange", "red"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name") from err
    return value


class Contact(_Strict):
    name: str = Field(min_length=1)
    channels: tuple[str, ...] = Field(min_length=1)
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else _zone(v)


class Tier(_Strict):
    """People told together, ``after`` this long without an acknowledgement of the level."""

    name: str = Field(min_length=1)
    after: Duration = Duration("0m")
    contacts: tuple[Contact, ...] = Field(min_length=1)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for contact in self.contacts for c in contact.channels))


class RosterEntry(_Strict):
    domain: str = "*"
    area: str = "*"
    tiers: tuple[Tier, ...] = Field(min_length=1)

    @field_validator("tiers")
    @classmethod
    def _ladder(cls, v: tuple[Tier, ...]) -> tuple[Tier, ...]:
        if v[0].after != timedelta(0):
            raise ValueError(f"the first tier ({v[0].name}) is told at once: after 0m")
        afters = [t.after for t in v]
        if afters != sorted(afters) or len(set(afters)) != len(afters):
            raise ValueError(f"tiers must be told later and later: {[str(a) for a in afters]}")
        return v


def _default_renotify() -> dict[LevelName, Duration]:
    return {
        "blue": Duration("60m"),
        "yellow": Duration("30m"),
        "orange": Duration("15m"),
        "red": Duration("10m"),
    }


class Roster(_Strict):
    timezone: str = CITY_TZ
    renotify: dict[LevelName, Duration] = Field(default_factory=lambda: _default_renotify())
    rosters: tuple[RosterEntry, ...] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _zone(v)

    @field_validator("rosters")
    @classmethod
    def _distinct(cls, v: tuple[RosterEntry, ...]) -> tuple[RosterEntry, ...]:
        keys = [(e.domain, e.area) for e in v]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"each domain and area once: {twice} appear twice")
        return v

    def tiers(self, domain: str, area: str) -> tuple[Tier, ...]:
        """The tiers for a warning: the most specific entry (domain and area, then the domain,
        then the area, then ``*``); none when no entry matches."""
        for key in ((domain, area), (domain, "*"), ("*", area), ("*", "*")):
            for entry in self.rosters:
                if (entry.domain, entry.area) == key:
                    return entry.tiers
        return ()

    def renotify_after(self, level: Level) -> timedelta | None:
        """How long an unacknowledged warning at ``level`` waits before it is sent again."""
        return next((d for name, d in self.renotify.items() if name == level.colour), None)

    def channels(self) -> set[str]:
        """Every channel the roster names (each must be configured)."""
        return {c for e in self.rosters for t in e.tiers for c in t.channels}


def parse_roster(raw: Any, *, source: str = "<roster>") -> Roster:
    """Validate a roster mapping; the first error names its key path."""
    return validate_file_model(Roster, raw, source=source)


def load_roster(path: str | Path) -> Roster:
    """Read and validate a roster file (YAML)."""
    return parse_roster(read_yaml(path, what="roster", key="roster"), source=str(path))
