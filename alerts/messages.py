"""Warning texts for duty officers, in Chinese (the default) and English.

A warning text has to be acted on from a phone screen, so it says, in one sentence, the level,
the place (the worst of the warning's targets, and how many more), what is expected, how soon,
and how sure we are, in the city's own words
("【橙色预警】…等3处 积水预计2小时内达到16厘米（超过15厘米橙色阈值的概率72%）。"), and, for
traffic or hotline trouble in an area already under a ponding or river warning, that warning
as the likely cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from alerts.assessment import Assessment
from alerts.levels import Level
from features import ConfigError

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
    "waterlogging": _Domain("积水", "ponding", "积水", "ponding"),
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
    """
    if lang not in ("zh", "en"):
        raise ConfigError(f"{lang!r} is not 'zh' or 'en'", key="lang")
    domain = _domain(subject.domain)
    if level == Level.NONE:
        return _lifted(subject, domain, previous, lang)
    text = _raised(subject, domain, level, lang, others)
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
    return text


def render_by_person(warning: Any, by: str, note: str, *, lang: Lang = "zh") -> str:
    """The text of a warning lifted by a duty officer (``Warning``: duck-typed, so the ledger can
    render it without the engine's assessment)."""
    domain = _domain(warning.domain)
    label = warning.details.get("label") or warning.area_id
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


def _raised(subject: Assessment, domain: _Domain, level: Level, lang: Lang, others: int) -> str:
    rule = subject.rule
    below = rule.direction == "below"
    value = _quantity(subject.peak_value, subject.unit, lang)
    threshold = _quantity(rule.thresholds[level], subject.unit, lang)
    pct = _percent(subject.probability_of(level))
    minutes = math.ceil((subject.peak_ts - subject.origin).total_seconds() / 60)
    if lang == "zh":
        lead = "" if domain.name_zh == domain.measure_zh else f"，{domain.measure_zh}"
        verb = "降至" if below else "达到"
        when = f"预计{_within_zh(minutes)}{verb}" if minutes > 0 else f"已{verb}"
        more = f"等{others + 1}{domain.more_zh}" if others else ""
        return (
            f"【{level.name_zh}预警】{subject.place}{more} {domain.name_zh}{lead}{when}{value}"
            f"（{'低于' if below else '超过'}{threshold}{level.name_zh}阈值的概率{pct}%）。"
        )
    lead = "" if domain.name_en == domain.measure_en else f"{domain.name_en}: "
    if minutes > 0:
        verb = "fall to" if below else "reach"
        when = f"expected to {verb} {value} within {_within_en(minutes)}"
    else:
        when = f"has {'fallen to' if below else 'reached'} {value}"
    side = "falling below" if below else "exceeding"
    more = f" and {others} more {domain.more_en}" if others else ""
    return (
        f"[{level.colour.capitalize()} warning] {subject.place}{more}: {lead}{domain.measure_en} "
        f"{when} ({pct}% probability of {side} the {threshold} {level.colour} threshold)."
    )


def _unforecast(subject: Assessment, domain: _Domain, lang: Lang) -> str:
    """What was observed beyond the forecast: the trouble the model did not see coming."""
    assert subject.observed is not None and subject.unforecast_bound is not None
    now = _quantity(subject.observed, subject.unit, lang)
    bound = _quantity(subject.unforecast_bound, subject.unit, lang)
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
    threshold = _quantity(rule.thresholds[lowest], subject.unit, lang)
    pct = _percent(subject.probability_of(lowest))
    below = rule.direction == "below"
    if lang == "zh":
        name = previous.name_zh if previous != Level.NONE else ""
        return (
            f"【{name}预警解除】{subject.place} {domain.name_zh}{name}预警解除"
            f"（{'低于' if below else '超过'}{threshold}{lowest.name_zh}阈值的概率已降至{pct}%）。"
        )
    name = f"{previous.colour} " if previous != Level.NONE else ""
    side = "falling below" if below else "exceeding"
    return (
        f"[{name.capitalize()}warning lifted] {subject.place}: {domain.name_en} {name}warning "
        f"lifted ({pct}% probability of {side} the {threshold} {lowest.colour} threshold)."
    )


def _quantity(value: float, unit: str, lang: Lang) -> str:
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
