"""Warning texts in Chinese and English for each domain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts_builders import BLUE, ORANGE, QUIET, T0, ponding

from alerts import PONDING_CM, Assessment, Level, LevelRule, render
from features import ConfigError, DataError

ACTIONS = {
    Level.ORANGE: (
        "封闭下穿通道，排水抢险队赶赴现场",
        "close the underpass; send the drainage crew",
    )
}
RULE = LevelRule(PONDING_CM.thresholds, unit="cm", actions=ACTIONS)
GULOU = "Gulou Wuyi Road underpass"


def test_ponding_warning_reads_as_the_city_writes_it_in_chinese() -> None:
    text = render(ponding(ORANGE, high_value=21.0, rule=RULE), Level.ORANGE)
    assert text == (
        "【橙色预警】鼓楼区 五一路下穿通道 积水：预计2小时内（15:40前后）积水深度超过15厘米的可能性"
        "为72%，最深或达21厘米。处置建议：封闭下穿通道，排水抢险队赶赴现场。"
    )


def test_ponding_warning_in_english_names_the_place_in_english() -> None:
    subject = ponding(ORANGE, high_value=21.0, rule=RULE, label_en=GULOU)
    assert render(subject, Level.ORANGE, lang="en") == (
        "[Orange warning] Gulou Wuyi Road underpass: 72% probability that ponding exceeds 15 cm "
        "within 2 h (around 15:40); up to 21 cm at worst. To do: close the underpass; send the "
        "drainage crew."
    )
    lifted = render(subject, Level.NONE, action="closed", previous=Level.ORANGE, lang="en")
    assert GULOU in lifted and "鼓楼" not in lifted


def test_a_warning_never_leads_with_a_median_that_contradicts_it() -> None:
    """43% for the 5 cm blue threshold while the median path stays dry: the text says the
    chance of 5 cm and how deep it may get, never "expected to reach 0 cm"."""
    dry = ponding(BLUE | {"blue": 0.43}, peak_value=0.0, high_value=7.5)
    zh, en = render(dry, Level.BLUE), render(dry, Level.BLUE, lang="en")
    assert "0厘米" not in zh and "超过5厘米的可能性为43%，最深或达7.5厘米" in zh
    assert "0 cm" not in en and "43% probability that ponding exceeds 5 cm" in en
    assert "up to 7.5 cm at worst" in en
    # a band that never passes the threshold says nothing of a worst case
    assert "最深" not in render(ponding(BLUE, high_value=4.0), Level.BLUE)


def test_the_time_is_when_the_level_is_reached_on_the_local_clock() -> None:
    """When the level's probability first reaches the rule's, in Beijing time; the peak may
    come later."""
    subject = Assessment(
        **{
            **ponding(ORANGE).__dict__,
            "level_ts": {Level.ORANGE: T0 + timedelta(minutes=40)},
            "peak_ts": T0 + timedelta(hours=3),
        }
    )
    assert "预计40分钟内（14:40前后）" in render(subject, Level.ORANGE)
    assert "within 40 min (around 14:40)" in render(subject, Level.ORANGE, lang="en")
    late = ponding(ORANGE, lead=timedelta(hours=11))  # 01:00 on 1 August, Beijing
    assert "（次日01:00前后）" in render(late, Level.ORANGE)
    assert "(around tomorrow 01:00)" in render(late, Level.ORANGE, lang="en")


def test_short_and_long_lead_times_read_naturally() -> None:
    soon = render(ponding(ORANGE, lead=timedelta(minutes=30)), Level.ORANGE)
    assert "预计30分钟内（14:30前后）" in soon
    now = render(ponding(ORANGE, lead=timedelta(0), peak_value=15.5), Level.ORANGE, lang="en")
    assert "ponding has exceeded 15 cm (72% probability)" in now


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
        "【黄色预警】鼓楼区 排水类诉求 12345热线话务激增：预计6小时内（20:00前后）话务量超过"
        "300件/小时的可能性为65%。"
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
    slow = Assessment(**{**traffic.__dict__, "high_value": 11.0})
    zh = render(slow, Level.ORANGE)
    assert zh == (
        "【橙色预警】s-2ring-east 交通拥堵：预计30分钟内（14:30前后）车速低于20公里/小时的可能性"
        "为55%，最低或降至11公里/小时。"
    )
    en = render(slow, Level.ORANGE, lang="en")
    assert "traffic congestion: 55% probability that speed falls below 20 km/h within 30 min" in en
    assert "down to 11 km/h at worst" in en


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
