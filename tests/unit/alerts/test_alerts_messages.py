"""Warning texts in Chinese and English for each domain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts_builders import ORANGE, QUIET, T0, ponding

from alerts import Assessment, Level, LevelRule, render
from features import ConfigError, DataError


def test_ponding_warning_reads_as_the_city_writes_it_in_chinese() -> None:
    text = render(ponding(ORANGE), Level.ORANGE)
    assert text == (
        "【橙色预警】鼓楼区 五一路下穿通道 积水预计2小时内达到16厘米"
        "（超过15厘米橙色阈值的概率72%）。"
    )


def test_ponding_warning_in_english() -> None:
    text = render(ponding(ORANGE), Level.ORANGE, lang="en")
    assert text == (
        "[Orange warning] 鼓楼区 五一路下穿通道: ponding expected to reach 16 cm within 2 h "
        "(72% probability of exceeding the 15 cm orange threshold)."
    )


def test_escalation_and_deescalation_name_the_level_they_came_from() -> None:
    zh = render(ponding(ORANGE), Level.ORANGE, action="escalated", previous=Level.YELLOW)
    assert zh.endswith("由黄色预警升级为橙色预警。")
    en = render(ponding(ORANGE), Level.ORANGE, action="deescalated", previous=Level.RED, lang="en")
    assert en.endswith("Lowered from red.")


def test_lifted_messages_say_which_warning_is_lifted() -> None:
    zh = render(ponding(QUIET), Level.NONE, action="closed", previous=Level.ORANGE)
    assert zh == (
        "【橙色预警解除】鼓楼区 五一路下穿通道 积水橙色预警解除"
        "（超过5厘米蓝色阈值的概率已降至10%）。"
    )
    en = render(ponding(QUIET), Level.NONE, action="closed", previous=Level.ORANGE, lang="en")
    assert en.startswith("[Orange warning lifted]") and "10% probability" in en


def test_short_and_long_lead_times_read_naturally() -> None:
    soon = render(ponding(ORANGE, lead=timedelta(minutes=30)), Level.ORANGE)
    assert "预计30分钟内达到" in soon
    now = render(ponding(ORANGE, lead=timedelta(0), peak_value=15.5), Level.ORANGE, lang="en")
    assert "has reached 15.5 cm" in now


def test_hotline_and_traffic_warnings_use_their_own_nouns() -> None:
    hotline = Assessment(
        domain="hotline",
        series_id="gulou/drainage",
        area_id="gulou",
        origin=T0,
        probabilities={Level.BLUE: 0.9, Level.YELLOW: 0.65},
        peak_value=320,
        peak_ts=T0 + timedelta(hours=6),
        unit="calls/h",
        rule=LevelRule({Level.BLUE: 200, Level.YELLOW: 300}, unit="calls/h"),
        label="鼓楼区 排水类诉求",
    )
    assert render(hotline, Level.YELLOW) == (
        "【黄色预警】鼓楼区 排水类诉求 12345热线话务激增，话务量预计6小时内达到320件/小时"
        "（超过300件/小时黄色阈值的概率65%）。"
    )
    speed = LevelRule({Level.BLUE: 40, Level.YELLOW: 30, Level.ORANGE: 20}, direction="below")
    traffic = Assessment(
        domain="traffic",
        series_id="s-2ring-east",
        area_id=None,
        origin=T0,
        probabilities={Level.BLUE: 0.95, Level.YELLOW: 0.8, Level.ORANGE: 0.55},
        peak_value=17.4,
        peak_ts=T0 + timedelta(minutes=30),
        unit="km/h",
        rule=speed,
    )
    zh = render(traffic, Level.ORANGE)
    assert zh.startswith("【橙色预警】s-2ring-east 交通拥堵，车速预计30分钟内降至17.4公里/小时")
    assert "低于20公里/小时橙色阈值的概率55%" in zh
    en = render(traffic, Level.ORANGE, lang="en")
    assert "traffic congestion: speed expected to fall to 17.4 km/h within 30 min" in en
    assert "55% probability of falling below the 20 km/h orange threshold" in en


def test_unknown_languages_are_refused() -> None:
    with pytest.raises(ConfigError, match="lang"):
        render(ponding(ORANGE), Level.ORANGE, lang="fr")  # type: ignore[arg-type]


def test_an_unforecast_surge_says_what_was_seen_against_what_was_expected() -> None:
    seen = dict(
        domain="hotline", series_id="gulou/water_supply", area_id="gulou", origin=T0,
        probabilities={Level.BLUE: 1.0}, peak_value=4.0, peak_ts=T0 + timedelta(hours=1),
        unit="tickets/h", rule=LevelRule({Level.BLUE: 6}, unit="tickets/h"),
        label="鼓楼区 供水类诉求", observed=31.0,
    )  # fmt: skip
    surge = Assessment(**seen, unforecast_hours=2, unforecast_bound=5.0)  # type: ignore[arg-type]
    assert render(surge, Level.BLUE).endswith(
        "实测话务量已连续2个时段超出预测上限（当前31件/小时，预测上限5件/小时），为预测外激增。"
    )
    english = render(surge, Level.BLUE, lang="en")
    assert english.endswith(
        "above the forecast's upper bound for 2 periods in a row (now 31 tickets/h, bound "
        "5 tickets/h): not forecast."
    )
    with pytest.raises(DataError, match="needs the observed value and the bound"):
        Assessment(**seen, unforecast_hours=2)  # type: ignore[arg-type]
