"""The duty officer's workflow: grouped warnings, hold and quiet periods, resolution by a
person, a likely cause in another domain, and silences."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from alerts_builders import BLUE, ORANGE, QUIET, RED, T0, YELLOW, ponding

from alerts import PONDING_CM, Assessment, Ledger, Level, LevelRule, WarningEngine
from features import DataError

MIN10 = timedelta(minutes=10)
HELD = replace(PONDING_CM, hold=timedelta(minutes=30), quiet=timedelta(hours=1))


def held(probabilities: dict[str, float], i: int, **kw: object) -> Assessment:
    """A ponding assessment i*10 minutes after T0 under a rule with a hold and a quiet period."""
    return replace(ponding(probabilities, origin=T0 + i * MIN10, **kw), rule=HELD)  # type: ignore[arg-type]


def test_a_storm_over_a_district_is_one_warning_whose_level_is_its_worst_target(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger)
    sensors = [ponding(YELLOW, series_id=f"p{i}") for i in range(11)]
    sensors.append(ponding(ORANGE, series_id="p-worst", peak_value=17.0, high_value=21.0))
    (change,) = engine.evaluate(sensors, now=T0)
    warning = change.warning
    assert (change.action, warning.level, warning.area_id) == ("opened", Level.ORANGE, "gulou")
    assert len(warning.active) == 12 and warning.active[0].series_id == "p-worst"
    assert warning.to_dict()["worst_series_id"] == "p-worst"
    assert "等12处" in warning.message_zh and "最深或达21厘米" in warning.message_zh
    assert "and 11 more sites" in warning.message_en
    (payload,) = [row.payload for row in ledger.outbox()]
    assert payload["targets_at_level"] == 12 and payload["series_id"] == "p-worst"
    assert ledger.target_levels("waterlogging")["p-worst"] == Level.ORANGE


def test_targets_join_and_leave_a_warning_without_a_message_to_officers(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    (opened,) = engine.evaluate([ponding(YELLOW, series_id="a")], now=T0)
    assert engine.evaluate([ponding(YELLOW, series_id="b")], now=T0 + MIN10) == []
    assert engine.evaluate([ponding(QUIET, series_id="b")], now=T0 + 2 * MIN10) == []
    history = ledger.history(opened.warning.id)
    assert [(h.action, h.series_id) for h in history] == [
        ("opened", None),
        ("joined", "b"),
        ("left", "b"),
    ]
    assert len(ledger.outbox()) == 1  # only the opening was announced
    warning = ledger.get(opened.warning.id)
    assert [t.series_id for t in warning.active] == ["a"]
    (b,) = [t for t in warning.targets if t.series_id == "b"]
    assert b.left_at == T0 + 2 * MIN10 and b.level == Level.NONE


def test_a_level_is_held_for_its_hold_time_before_it_drops(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    actions = []
    for i, p in enumerate([RED, BLUE, BLUE, BLUE, QUIET]):
        actions += [
            (i, c.action, c.to_level) for c in engine.evaluate([held(p, i)], T0 + i * MIN10)
        ]
    # red at 0; the drop to blue waits until 30 min after red was reached (step 3)
    assert actions == [(0, "opened", Level.RED), (3, "deescalated", Level.BLUE)]


def test_a_warning_back_within_its_quiet_period_is_the_same_episode_reopened(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger)
    steps = {0: YELLOW, 3: QUIET, 5: YELLOW, 6: QUIET, 9: QUIET, 20: YELLOW}
    actions = []
    for i, p in steps.items():
        actions += [(i, c.action) for c in engine.evaluate([held(p, i)], T0 + i * MIN10)]
    # closed at 30 min and back at 50 (within the hour): the same warning, reopened; its new
    # yellow is held until 80 min, so it closes at 90; back at 200 min: a new episode
    assert actions == [(0, "opened"), (3, "closed"), (5, "reopened"), (9, "closed"), (20, "opened")]
    first = ledger.list(domain="waterlogging")[-1]
    assert first.reopened == 1
    assert [h.action for h in ledger.history(first.id)] == [
        "opened",
        "closed",
        "reopened",
        "closed",
    ]
    assert len(ledger.list(domain="waterlogging")) == 2


def test_a_person_resolves_a_warning_saying_why_and_it_is_not_reopened_at_that_level(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger, channels=("webhook",))
    (opened,) = engine.evaluate([held(YELLOW, 0)], T0)
    resolved = ledger.resolve(
        opened.warning.id,
        by="值班员 李四",
        note="现场已排水",
        now=T0 + MIN10,
        channels=("webhook",),
    )
    assert (resolved.status, resolved.resolved_by, resolved.resolve_note) == (
        "closed",
        "值班员 李四",
        "现场已排水",
    )
    assert "已由值班员 李四人工解除：现场已排水" in resolved.message_zh
    last = ledger.history(resolved.id)[-1]
    assert (last.action, last.actor, last.note) == ("resolved", "值班员 李四", "现场已排水")
    assert ledger.outbox()[-1].payload["action"] == "resolved"
    # the same yellow forecast does not bring it back within the quiet period ...
    assert engine.evaluate([held(YELLOW, 2)], T0 + 2 * MIN10) == []
    # ... worse trouble does
    (back,) = engine.evaluate([held(RED, 3)], T0 + 3 * MIN10)
    assert (back.action, back.warning.id) == ("reopened", opened.warning.id)
    with pytest.raises(DataError, match="why"):
        ledger.resolve(opened.warning.id, by="x", note=" ")


def _congestion(probabilities: dict[str, float], area: str = "gulou") -> Assessment:
    rule = LevelRule({Level.BLUE: 20.0, Level.YELLOW: 15.0}, direction="below", unit="km/h")
    return Assessment(
        domain="traffic",
        series_id="road-wusi-02",
        area_id=area,
        origin=T0,
        probabilities={Level.parse(k): v for k, v in probabilities.items()},
        peak_value=12.0,
        peak_ts=T0 + timedelta(minutes=30),
        unit="km/h",
        rule=rule,
        label="鼓楼区 五四路2号检测点",
    )


def test_congestion_in_an_area_under_a_ponding_warning_names_it_as_the_likely_cause(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger)
    changes = engine.evaluate([_congestion({"blue": 0.9, "yellow": 0.7}), ponding(ORANGE)], T0)
    ponding_warning = next(c.warning for c in changes if c.warning.domain == "waterlogging")
    traffic = next(c.warning for c in changes if c.warning.domain == "traffic")
    assert traffic.details["cause"] == {
        "id": ponding_warning.id,
        "domain": "waterlogging",
        "level": "orange",
    }
    assert "同区域积水橙色预警生效中，或为诱因" in traffic.message_zh
    assert "likely cause" in traffic.message_en
    (elsewhere,) = engine.evaluate([_congestion({"blue": 0.9}, area="mawei")], T0)
    assert elsewhere.warning.details["cause"] is None


def test_a_silenced_warning_is_recorded_and_shown_but_not_delivered(ledger: Ledger) -> None:
    engine = WarningEngine(ledger, channels=("webhook",))
    silence = ledger.add_silence(
        series_id="pond-wuyi-underpass",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        created_by="值班员 王五",
        comment="传感器检修",
        now=T0,
    )
    (opened,) = engine.evaluate([ponding(ORANGE)], T0)
    assert opened.silenced_by == silence.id
    assert ledger.outbox() == [] and ledger.list(status="open") == [opened.warning]
    assert ledger.history(opened.warning.id)[0].silenced_by == silence.id
    assert [s.id for s in ledger.silences(now=T0, state="active")] == [silence.id]
    ledger.expire_silence(silence.id, by="值班员 王五", now=T0 + MIN10)
    (raised,) = engine.evaluate([ponding(RED)], T0 + 2 * MIN10)
    assert raised.silenced_by is None and len(ledger.outbox()) == 1
    (expired,) = ledger.silences(now=T0 + 2 * MIN10)
    assert expired.state(T0 + 2 * MIN10) == "expired" and expired.expired_by == "值班员 王五"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a matcher"),
        ({"domain": "waterlogging", "created_by": " "}, "must be named"),
        ({"domain": "waterlogging", "comment": ""}, "say why"),
        ({"domain": "waterlogging", "ends_at": T0}, "end after it starts"),
        ({"domain": "waterlogging", "starts_at": T0 - timedelta(hours=3),
          "ends_at": T0 - timedelta(hours=1)}, "end in the future"),
    ],
)  # fmt: skip
def test_a_silence_without_a_matcher_a_person_a_reason_or_a_future_end_is_refused(
    ledger: Ledger, kwargs: dict, message: str
) -> None:
    values = {"starts_at": T0, "ends_at": T0 + timedelta(hours=1), "created_by": "officer",
              "comment": "repair", "now": T0} | kwargs  # fmt: skip
    with pytest.raises(DataError, match=message):
        ledger.add_silence(**values)
    assert ledger.silences(now=T0) == []


def test_a_silence_matches_only_the_warnings_its_matchers_name(ledger: Ledger) -> None:
    ledger.add_silence(
        domain="waterlogging", area_id="taijiang", starts_at=T0, ends_at=T0 + timedelta(hours=1),
        created_by="officer", comment="handled", now=T0,
    )  # fmt: skip
    engine = WarningEngine(ledger, channels=("webhook",))
    changes = engine.evaluate(
        [ponding(RED, series_id="a"), ponding(RED, series_id="b", area_id="taijiang")], T0
    )
    silenced = {c.warning.area_id: c.silenced_by is not None for c in changes}
    assert silenced == {"gulou": False, "taijiang": True}
    assert [row.payload["area_id"] for row in ledger.outbox()] == ["gulou"]
