"""Warning texts for duty officers, in Chinese (the default) and English.

A warning text has to be acted on from a phone screen, so it says, in one or two sentences, the
level, the place (the worst of the warning's targets, and how many more), how likely the level
is and what it means (the depth, count or speed of its threshold), when (within how long, and
the local clock time), how bad it may get (the bad end of the forecast's band), and what to do
(the level's ``action`` in the task config), in the city's own words:

    【橙色预警】鼓楼区 五一路下穿通道等3处 积水：预计2小时内（15:40前后）积水超过15厘米的可能性
    为72%，最深或达21厘米。处置建议：封闭下穿通道，排水抢险队赶赴现场。

It never leads with the median: a warning at 43% for 5 cm whose median path stays at 0 cm would
read "expected to reach 0 cm" beside "43% likely to exceed 5 cm", one sentence against itself.
Traffic or hotline trouble in an area already under a ponding or river warning names that
warning as the likely cause. English texts use the places' English names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from alerts.assessment import Assessment
from alerts.levels import Level
from features import ConfigError

CITY_TZ = "Asia/Shanghai"  # the clock messages tell times in, unless the roster names another

Lang = Literal["zh", "en"]


@dataclass(frozen=True)
class _Domain:
    name_zh: str
    name_en: str
    measure_zh: str
    measure_en: str
    more_zh: str = "处"  # the counting word for "3 more sites": 处 (places), 类 (categories)
    more_en: str = "sites"


_DOMAINS = {
    "waterlogging": _Domain("积水", "ponding", "积水深度", "ponding"),
    "rivers": _Domain("河湖水位", "river level", "水位", "water level", "处", "gauges"),
    "hotline": _Domain(
        "12345热线话务激增", "12345 hotline surge", "话务量", "call volume", "类", "categories"
    ),
    "traffic": _Domain("交通拥堵", "traffic congestion", "车速", "speed", "处", "sensors"),
}

_UNITS_ZH = {
    "cm": "厘米",
    "mm": "毫米",
    "m": "米",
    "km/h": "公里/小时",
    "kmh": "公里/小时",
    "calls/h": "件/小时",
    "tickets/h": "件/小时",
    "calls/d": "件/天",
    "tickets/d": "件/天",
    "calls": "件",
    "tickets": "件",
}


@dataclass(frozen=True)
class Cause:
    """An open warning of another domain in the same area: the likely cause of this one."""

    domain: str
    level: Level


def render(
    subject: Assessment,
    level: Level,
    *,
    action: str = "opened",
    previous: Level = Level.NONE,
    lang: Lang = "zh",
    others: int = 0,
    cause: Cause | None = None,
    tz: str = CITY_TZ,
) -> str:
    """The text of a warning at ``level`` about ``subject``.

    Args:
        subject: the assessment of the warning's worst target (place, peak, probabilities,
            rule).
        level: the new level; ``Level.NONE`` renders a "lifted" (解除) message for ``previous``.
        action: "opened", "reopened", "escalated", "deescalated" or "closed"; the middle ones
            add a note of the level they came from.
        previous: the level before the change.
        lang: "zh" or "en".
        others: how many more of the warning's targets are at a level ("等3处").
        cause: an open warning of another domain in the area, named as the likely cause.
        tz: the IANA zone of the clock times in the text (the city's).
    """
    if lang not in ("zh", "en"):
        raise ConfigError(f"{lang!r} is not 'zh' or 'en'", key="lang")
    domain = _domain(subject.domain)
    if level == Level.NONE:
        return _lifted(subject, domain, previous, lang)
    text = _raised(subject, domain, level, lang, others, ZoneInfo(tz))
    if action in ("escalated", "deescalated") and previous != Level.NONE:
        up = action == "escalated"
        if lang == "zh":
            text += f"由{previous.name_zh}预警{'升级' if up else '降级'}为{level.name_zh}预警。"
        else:
            text += f" {'Raised' if up else 'Lowered'} from {previous.colour}."
    if subject.unforecast_hours:
        text += _unforecast(subject, domain, lang)
    if action == "reopened":
        text += "预警再次发布（同一过程）。" if lang == "zh" else " Reissued (the same episode)."
    if cause is not None:
        other = _domain(cause.domain)
        if lang == "zh":
            text += f"同区域{other.name_zh}{cause.level.name_zh}预警生效中，或为诱因。"
        else:
            text += (
                f" A {cause.level.colour} {other.name_en} warning is in force in the area: "
                "the likely cause."
            )
    todo = subject.rule.actions.get(level)
    if todo is not None:  # what to do comes last, where the eye ends
        text += f"处置建议：{todo[0]}。" if lang == "zh" else f" To do: {todo[1]}."
    return text


def render_by_person(warning: Any, by: str, note: str, *, lang: Lang = "zh") -> str:
    """The text of a warning lifted by a duty officer (``Warning``: duck-typed, so the ledger can
    render it without the engine's assessment)."""
    domain = _domain(warning.domain)
    label = warning.details.get("label") or warning.area_id
    if lang == "en":
        label = warning.details.get("label_en") or label
    level = warning.level
    if lang == "zh":
        name = f"{domain.name_zh}{level.name_zh}预警"
        return f"【{level.name_zh}预警解除】{label} {name}已由{by}人工解除：{note}"
    return (
        f"[{level.colour.capitalize()} warning lifted] {label}: {domain.name_en} "
        f"{level.colour} warning lifted by {by}: {note}"
    )


def render_escalation(
    message: str, *, action: str, tier: str, minutes: int, lang: Lang = "zh"
) -> str:
    """The text of a page or re-send: who it now reaches and for how long nobody acknowledged,
    before the warning's own text, so a shift leader woken by a phone knows at once why it is
    them (``tier``: the roster tier's name, ``minutes`` since the warning reached its level)."""
    hours, mins = divmod(max(minutes, 0), 60)
    if lang == "zh":
        span = f"{hours}小时{mins}分钟" if hours else f"{mins}分钟"
        head = f"已升级至{tier}" if action == "paged" else f"再次提醒（已通知至{tier}）"
        return f"【{head}：{span}未确认】{message}"
    span = f"{hours} h {mins} min" if hours else f"{mins} min"
    head = f"Escalated to {tier}" if action == "paged" else f"Reminder (told up to {tier})"
    return f"[{head}: unacknowledged for {span}] {message}"


def _domain(name: str) -> _Domain:
    return _DOMAINS.get(name, _Domain(name, name, "预测值", "forecast"))


@dataclass(frozen=True)
class _Words:
    """How a domain's quantity is said at the bad end: 最深 / at worst."""

    worst_zh: str  # 最深或达, 最多或达, 最低或降至
    worst_en: str  # up to, down to


_WORST = {
    "waterlogging": _Words("最深或达", "up to"),
    "rivers": _Words("最高或达", "up to"),
    "hotline": _Words("最多或达", "up to"),
}
_WORST_BELOW = _Words("最低或降至", "down to")
_WORST_ABOVE = _Words("最高或达", "up to")


def _raised(
    subject: Assessment, domain: _Domain, level: Level, lang: Lang, others: int, tz: ZoneInfo
) -> str:
    rule = subject.rule
    below = rule.direction == "below"
    limit = rule.thresholds[level]
    threshold = quantity(limit, subject.unit, lang)
    pct = _percent(subject.probability_of(level))
    when = subject.time_of(level)
    minutes = math.ceil((when - subject.origin).total_seconds() / 60)
    clock = _clock(when, subject.origin, lang, tz)
    place = subject.place_in(lang)
    words = _WORST_BELOW if below else _WORST.get(subject.domain, _WORST_ABOVE)
    high = subject.high_value
    beyond = high is not None and (high < limit if below else high > limit)
    worst = quantity(high, subject.unit, lang) if beyond and high is not None else None
    if lang == "zh":
        more = f"等{others + 1}{domain.more_zh}" if others else ""
        side = "低于" if below else "超过"
        measure = domain.measure_zh
        if minutes > 0:
            within = _within_zh(minutes)
            what = f"预计{within}（{clock}前后）{measure}{side}{threshold}的可能性为{pct}%"
        else:
            what = f"{measure}已{side}{threshold}（可能性{pct}%）"
        tail = f"，{words.worst_zh}{worst}" if worst else ""
        return f"【{level.name_zh}预警】{place}{more} {domain.name_zh}：{what}{tail}。"
    more = f" and {others} more {domain.more_en}" if others else ""
    lead = "" if domain.name_en == domain.measure_en else f"{domain.name_en}: "
    measure = domain.measure_en
    if minutes > 0:
        side = "falls below" if below else "exceeds"
        within = _within_en(minutes)
        what = (
            f"{pct}% probability that {measure} {side} {threshold} within {within} (around {clock})"
        )
    else:
        side = "has fallen below" if below else "has exceeded"
        what = f"{measure} {side} {threshold} ({pct}% probability)"
    tail = f"; {words.worst_en} {worst} at worst" if worst else ""
    return f"[{level.colour.capitalize()} warning] {place}{more}: {lead}{what}{tail}."


def _clock(when: datetime, origin: datetime, lang: Lang, tz: ZoneInfo) -> str:
    """The local time of ``when``: its hour, with the day when it is not the origin's."""
    local, start = when.astimezone(tz), origin.astimezone(tz)
    days = (local.date() - start.date()).days
    hour = f"{local:%H:%M}"
    if days == 0:
        return hour
    if days == 1:
        return f"次日{hour}" if lang == "zh" else f"tomorrow {hour}"
    return (
        f"{local.month}月{local.day}日{hour}" if lang == "zh" else f"{local:%b} {local.day} {hour}"
    )


def _unforecast(subject: Assessment, domain: _Domain, lang: Lang) -> str:
    """What was observed beyond the forecast: the trouble the model did not see coming."""
    assert subject.observed is not None and subject.unforecast_bound is not None
    now = quantity(subject.observed, subject.unit, lang)
    bound = quantity(subject.unforecast_bound, subject.unit, lang)
    hours = subject.unforecast_hours
    if lang == "zh":
        return (
            f"实测{domain.measure_zh}已连续{hours}个时段超出预测上限（当前{now}，预测上限{bound}），"
            "为预测外激增。"
        )
    return (
        f" Observed {domain.measure_en} has been above the forecast's upper bound for {hours} "
        f"periods in a row (now {now}, bound {bound}): not forecast."
    )


def _lifted(subject: Assessment, domain: _Domain, previous: Level, lang: Lang) -> str:
    rule = subject.rule
    lowest = rule.levels[0]
    threshold = quantity(rule.thresholds[lowest], subject.unit, lang)
    pct = _percent(subject.probability_of(lowest))
    below = rule.direction == "below"
    if lang == "zh":
        name = previous.name_zh if previous != Level.NONE else ""
        return (
            f"【{name}预警解除】{subject.place_in(lang)} {domain.name_zh}{name}预警解除"
            f"（{'低于' if below else '超过'}{threshold}{lowest.name_zh}阈值的概率已降至{pct}%）。"
        )
    name = f"{previous.colour} " if previous != Level.NONE else ""
    side = "falling below" if below else "exceeding"
    return (
        f"[{name.capitalize()}warning lifted] {subject.place_in(lang)}: {domain.name_en} "
        f"{name}warning lifted ({pct}% probability of {side} the {threshold} {lowest.colour} "
        "threshold)."
    )


def quantity(value: float, unit: str, lang: Lang) -> str:
    """A value in its unit as people read it: ``15厘米``, ``15 cm``, one decimal at most."""
    number = f"{value:.1f}".rstrip("0").rstrip(".")
    if number == "-0":
        number = "0"
    if lang == "zh":
        return f"{number}{_UNITS_ZH.get(unit, unit)}"
    unit = "km/h" if unit == "kmh" else unit
    return f"{number} {unit}".rstrip()


def _percent(p: float) -> int:
    return round(p * 100)


def _within_zh(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes}分钟内"
    if minutes < 48 * 60:
        return f"{math.ceil(minutes / 60)}小时内"
    return f"{math.ceil(minutes / 1440)}天内"


def _within_en(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{math.ceil(minutes / 60)} h"
    return f"{math.ceil(minutes / 1440)} days"
