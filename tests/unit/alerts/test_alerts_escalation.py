"""Duty rosters and escalation: who is told first, who next when nobody acknowledges, how often
an unacknowledged warning is sent again, and that a person's acknowledgement stops it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alerts_builders import ORANGE, T0, YELLOW, ponding

from alerts import Escalator, Ledger, Level, WarningEngine, load_roster, parse_roster
from features import ConfigError

MIN = timedelta(minutes=1)
ROSTER = {
    "renotify": {"yellow": "30m", "orange": "15m"},
    "rosters": [
        {
            "domain": "waterlogging",
            "tiers": [
                {"name": "值班员", "contacts": [{"name": "张伟", "channels": ["duty"]}]},
                {"name": "值班领导", "after": "15m",
                 "contacts": [{"name": "李强", "channels": ["leader"]}]},
                {"name": "局领导", "after": "45m",
                 "contacts": [{"name": "王局", "channels": ["director", "leader"]}]},
            ],
        },
        {"domain": "traffic", "area": "gulou",
         "tiers": [{"name": "交警值班", "contacts": [{"name": "陈", "channels": ["police"]}]}]},
    ],
}  # fmt: skip


def _sent(ledger: Ledger) -> list[tuple[str, str, str | None]]:
    return [(r.channel, r.payload["action"], r.payload.get("tier")) for r in ledger.outbox()]


def test_an_unacknowledged_warning_climbs_the_roster_and_is_sent_again(ledger: Ledger) -> None:
    roster = parse_roster(ROSTER)
    engine = WarningEngine(ledger, roster=roster)
    escalator = Escalator(ledger, roster)
    (opened,) = engine.evaluate([ponding(YELLOW)], now=T0)
    assert _sent(ledger) == [("duty", "opened", None)]  # the first tier only
    assert escalator.escalate_due(T0 + 14 * MIN) == []
    (paged,) = escalator.escalate_due(T0 + 15 * MIN)
    assert paged.tier == 1
    assert _sent(ledger)[-1] == ("leader", "paged", "值班领导")
    page = ledger.outbox()[-1].payload
    assert page["contacts"] == ["李强"]
    # the page says whom it now reaches and for how long nobody acknowledged, then the warning
    assert page["message_zh"] == f"【已升级至值班领导：15分钟未确认】{opened.warning.message_zh}"
    assert page["message_en"].startswith("[Escalated to 值班领导: unacknowledged for 15 min] ")
    assert escalator.escalate_due(T0 + 44 * MIN) == []  # re-sent 30 min after the page
    escalator.escalate_due(T0 + 45 * MIN)
    assert _sent(ledger)[-2:] == [("director", "paged", "局领导"), ("leader", "paged", "局领导")]
    escalator.escalate_due(T0 + 75 * MIN)  # 30 min (yellow) after the last message
    assert sorted(_sent(ledger)[-3:]) == [
        ("director", "renotified", "局领导"),
        ("duty", "renotified", "局领导"),
        ("leader", "renotified", "局领导"),
    ]
    reminder = ledger.outbox()[-1].payload["message_zh"]
    assert reminder.startswith("【再次提醒（已通知至局领导）：1小时15分钟未确认】")
    assert ledger.get(opened.warning.id).message_zh == opened.warning.message_zh  # as stored
    # everyone told so far hears of the warning's own changes
    (raised,) = engine.evaluate([ponding(ORANGE, origin=T0 + 80 * MIN)], now=T0 + 80 * MIN)
    assert raised.warning.tier == 2
    assert {c for c, a, _ in _sent(ledger) if a == "escalated"} == {"duty", "leader", "director"}
    history = [(h.action, h.note) for h in ledger.history(opened.warning.id)]
    assert history[1:3] == [("paged", "值班领导"), ("paged", "局领导")]


def test_an_acknowledgement_stops_the_escalation(ledger: Ledger) -> None:
    roster = parse_roster(ROSTER)
    engine = WarningEngine(ledger, roster=roster)
    (opened,) = engine.evaluate([ponding(YELLOW)], now=T0)
    ledger.acknowledge(opened.warning.id, by="张伟", now=T0 + 5 * MIN)
    escalator = Escalator(ledger, roster)
    assert escalator.escalate_due(T0 + 3 * 60 * MIN) == []
    assert [a for _, a, _ in _sent(ledger)] == ["opened"]


def test_a_higher_level_needs_a_fresh_acknowledgement_and_restarts_the_ladder(
    ledger: Ledger,
) -> None:
    roster = parse_roster(ROSTER)
    engine = WarningEngine(ledger, roster=roster)
    (opened,) = engine.evaluate([ponding(YELLOW)], now=T0)
    ledger.acknowledge(opened.warning.id, by="张伟", now=T0 + 5 * MIN)
    (raised,) = engine.evaluate([ponding(ORANGE, origin=T0 + 20 * MIN)], now=T0 + 20 * MIN)
    assert raised.warning.status == "open" and raised.warning.level_at == T0 + 20 * MIN
    escalator = Escalator(ledger, roster)
    assert escalator.escalate_due(T0 + 34 * MIN) == []
    (paged,) = escalator.escalate_due(T0 + 35 * MIN)  # 15 min after the new level
    assert paged.tier == 1


def test_the_most_specific_roster_entry_wins_and_without_one_every_channel_is_told(
    ledger: Ledger,
) -> None:
    roster = parse_roster(ROSTER)
    assert [t.name for t in roster.tiers("traffic", "gulou")] == ["交警值班"]
    assert roster.tiers("traffic", "mawei") == ()
    assert roster.tiers("waterlogging", "mawei")[0].name == "值班员"
    engine = WarningEngine(ledger, channels=("webhook", "robot"), roster=roster)
    assert engine.channels_for("traffic", "gulou") == ("police",)
    assert engine.channels_for("hotline", "gulou") == ("webhook", "robot")
    assert roster.renotify_after(Level.YELLOW) == timedelta(minutes=30)
    assert roster.renotify_after(Level.RED) is None  # not configured: never re-sent


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (lambda r: r["rosters"][0]["tiers"][1].update(after="0m"), "rosters[0].tiers",
         "later and later"),
        (lambda r: r["rosters"][0]["tiers"][0].update(after="5m"), "rosters[0].tiers",
         "told at once"),
        (lambda r: r["rosters"][1]["tiers"][0]["contacts"][0].update(timezone="Mars/Base"),
         "rosters[1].tiers[0].contacts[0].timezone", "unknown time zone"),
        (lambda r: r["rosters"][1]["tiers"][0]["contacts"][0].update(channels=[]),
         "rosters[1].tiers[0].contacts[0].channels", "at least 1"),
        (lambda r: r["rosters"][1].update(pager="x"), "rosters[1].pager", "unknown key"),
        (lambda r: r["renotify"].update(purple="5m"), "renotify.purple", ""),
        (lambda r: r["rosters"].append(dict(r["rosters"][1])), "rosters", "appear twice"),
    ],
)  # fmt: skip
def test_a_bad_roster_names_its_key_path(edit: object, key: str, message: str) -> None:
    import copy

    raw = copy.deepcopy(ROSTER)
    edit(raw)  # type: ignore[operator]
    with pytest.raises(ConfigError) as err:
        parse_roster(raw, source="roster.yaml")
    assert err.value.key == key and message in str(err.value)


def test_a_roster_file_is_read_and_a_missing_one_is_a_config_error(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "roster.yaml"
    path.write_text(yaml.safe_dump(ROSTER, allow_unicode=True), encoding="utf-8")
    assert load_roster(path).channels() == {"duty", "leader", "director", "police"}
    with pytest.raises(ConfigError, match="does not exist"):
        load_roster(tmp_path / "nope.yaml")
    path.write_text("rosters: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_roster(path)
