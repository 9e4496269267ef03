"""Level grading, hysteresis and rule validation."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import PONDING_CM, Level, LevelRule, grade, next_level
from features import ConfigError, DataError, WarningLevelSpec, WarningSpec

BL, YE, OR, RD = Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED


def probs(blue: float = 0.0, yellow: float = 0.0, orange: float = 0.0, red: float = 0.0):
    return {BL: blue, YE: yellow, OR: orange, RD: red}


def test_levels_have_colours_chinese_names_and_parse_from_either() -> None:
    assert [lv.colour for lv in Level] == ["none", "blue", "yellow", "orange", "red"]
    assert Level.ORANGE.name_zh == "橙色" and Level.RED.roman == "I"
    assert Level.parse("yellow") is Level.YELLOW
    assert Level.parse("黄色") is Level.YELLOW
    assert Level.parse("RED") is Level.RED
    assert Level.parse(3) is Level.ORANGE
    with pytest.raises(ConfigError, match="purple"):
        Level.parse("purple")


def test_grade_picks_the_most_severe_level_reaching_the_probability() -> None:
    assert grade(probs(0.9, 0.6, 0.49, 0.1), PONDING_CM) == YE
    assert grade(probs(0.9, 0.6, 0.5, 0.1), PONDING_CM) == OR
    assert grade(probs(0.4), PONDING_CM) == Level.NONE
    assert grade({}, PONDING_CM) == Level.NONE


def test_next_level_raises_immediately_even_by_several_levels() -> None:
    assert next_level(Level.NONE, probs(1, 1, 1, 0.6), PONDING_CM) == RD
    assert next_level(BL, probs(1, 0.7), PONDING_CM) == YE


def test_next_level_holds_while_the_probability_stays_within_the_clear_margin() -> None:
    # probability 0.5, clear margin 0.15: orange is held down to 0.35
    assert next_level(OR, probs(1, 1, 0.35), PONDING_CM) == OR
    assert next_level(OR, probs(1, 1, 0.349), PONDING_CM) == YE


def test_lowering_goes_to_the_grade_of_the_less_severe_levels() -> None:
    assert next_level(RD, probs(0.6, 0.4, 0.3, 0.1), PONDING_CM) == BL
    assert next_level(RD, probs(0.2, 0.1, 0.0, 0.0), PONDING_CM) == Level.NONE
    assert next_level(YE, probs(0.3, 0.3), PONDING_CM) == Level.NONE


def test_a_probability_swinging_around_the_threshold_opens_once_and_holds() -> None:
    seen = []
    level = Level.NONE
    for p in [0.45, 0.56, 0.44, 0.55, 0.40, 0.58, 0.37]:
        level = next_level(level, probs(1, p), PONDING_CM)
        seen.append(level)
    assert seen == [BL, YE, YE, YE, YE, YE, YE]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_probabilities_oscillating_within_the_clear_margin_never_flap(data: st.DataObject) -> None:
    margin = data.draw(st.floats(0.05, 0.4), label="clear_margin")
    rule = LevelRule(PONDING_CM.thresholds, probability=0.5, clear_margin=margin)
    width = data.draw(st.floats(0.0, margin * 0.99), label="band width")
    centres = {
        lv: data.draw(st.floats(0.0, 1.0), label=f"centre {lv.colour}") for lv in rule.levels
    }
    unit = st.floats(0.0, 1.0)
    steps = data.draw(st.lists(st.tuples(unit, unit, unit, unit), min_size=2, max_size=40))
    level, seen = Level.NONE, []
    for step in steps:
        p = {
            lv: min(1.0, max(0.0, centres[lv] + (u - 0.5) * width))
            for lv, u in zip(rule.levels, step, strict=True)
        }
        level = next_level(level, p, rule)
        seen.append(level)
    assert all(b >= a for a, b in pairwise(seen)), seen


def test_below_rules_need_thresholds_that_fall_with_severity() -> None:
    speed = LevelRule({BL: 40, YE: 30, OR: 20, RD: 10}, direction="below", unit="km/h")
    assert speed.level_for(18) == OR
    assert speed.level_for(45) == Level.NONE
    assert speed.crosses(10, RD) and not speed.crosses(10.1, RD)
    assert grade(probs(0.9, 0.8, 0.2), speed) == YE
    with pytest.raises(ConfigError, match="decrease"):
        LevelRule({BL: 10, YE: 20}, direction="below")


def test_above_rules_refuse_thresholds_out_of_order_and_bad_probabilities() -> None:
    with pytest.raises(ConfigError, match="increase"):
        LevelRule({BL: 10, YE: 5})
    with pytest.raises(ConfigError, match="clear_margin"):
        LevelRule({BL: 5}, probability=0.5, clear_margin=0.5)
    with pytest.raises(ConfigError, match="direction"):
        LevelRule({BL: 5}, direction="sideways")  # type: ignore[arg-type]
    assert PONDING_CM.level_for(16) == OR and PONDING_CM.level_for(4.9) == Level.NONE


def test_a_rule_is_built_from_a_task_configs_warning_section() -> None:
    spec = WarningSpec(
        levels=(
            WarningLevelSpec(level="blue", threshold=5),
            WarningLevelSpec(level="red", threshold=20),
        ),
        probability=0.6,
    )
    rule = LevelRule.from_spec(spec, unit="cm")
    assert rule.thresholds == {BL: 5.0, RD: 20.0}
    assert (rule.probability, rule.clear_margin, rule.direction) == (0.6, 0.15, "above")
    assert rule.levels == (BL, RD)
    assert (rule.hold, rule.quiet) == (timedelta(minutes=30), timedelta(hours=1))
    same = LevelRule(
        {BL: 5, RD: 20},
        probability=0.6,
        unit="cm",
        hold=timedelta(minutes=30),
        quiet=timedelta(hours=1),
    )
    assert same == rule and hash(same) == hash(rule)


def test_probabilities_outside_zero_and_one_are_refused() -> None:
    from alerts_builders import ponding

    with pytest.raises(DataError, match="orange"):
        ponding({"orange": 1.2})
    with pytest.raises(DataError):
        ponding({"blue": float("nan")})
