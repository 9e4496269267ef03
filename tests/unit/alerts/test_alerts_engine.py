"""The warning engine's lifecycle: open, escalate, de-escalate, close, acknowledge."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alerts_builders import BLUE, ORANGE, QUIET, RED, T0, YELLOW, ponding

from alerts import Ledger, Level, WarningEngine
from features import DataError, NotFoundError

MIN10 = timedelta(minutes=10)


def step(engine: WarningEngine, probabilities: dict[str, float], i: int, **kw):
    """Evaluate one scoring i*10 minutes after T0."""
    t = T0 + i * MIN10
    return engine.evaluate([ponding(probabilities, origin=t, **kw)], now=t)


def test_engine_opens_escalates_deescalates_and_closes_one_warning(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    actions = []
    for i, p in enumerate([QUIET, YELLOW, ORANGE, RED, BLUE, QUIET]):
        actions += [(c.action, c.from_level, c.to_level) for c in step(engine, p, i)]
    assert actions == [
        ("opened", Level.NONE, Level.YELLOW),
        ("escalated", Level.YELLOW, Level.ORANGE),
        ("escalated", Level.ORANGE, Level.RED),
        ("deescalated", Level.RED, Level.BLUE),
        ("closed", Level.BLUE, Level.NONE),
    ]
    (warning,) = ledger.list()
    assert warning.status == "closed" and warning.closed_at == T0 + 5 * MIN10
    assert (warning.level, warning.peak_level) == (Level.BLUE, Level.RED)
    assert warning.message_zh.startswith("【蓝色预警解除】")
    assert [h.action for h in ledger.history(warning.id)] == [
        "opened",
        "escalated",
        "escalated",
        "deescalated",
        "closed",
    ]
    assert ledger.current("waterlogging", "pond-wuyi-underpass") is None


def test_evaluating_the_same_assessments_twice_changes_nothing(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    batch = [ponding(ORANGE), ponding(YELLOW, series_id="pond-b"), ponding(QUIET, series_id="c")]
    first = engine.evaluate(batch, now=T0)
    assert [c.action for c in first] == ["opened"]  # one warning for the area's two targets
    assert engine.evaluate(batch, now=T0 + MIN10) == []
    assert len(ledger.outbox()) == 1
    assert len(ledger.history(first[0].warning.id)) == 1


def test_every_change_queues_one_outbox_row_per_channel_with_the_full_payload(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger, channels=("webhook", "robot"))
    (change,) = step(engine, ORANGE, 0)
    rows = ledger.outbox(warning_id=change.warning.id)
    assert sorted(r.channel for r in rows) == ["robot", "webhook"]
    payload = rows[0].payload
    assert payload["action"] == "opened"
    assert (payload["level"], payload["level_number"]) == ("orange", 3)
    assert payload["probabilities"] == {"blue": 0.97, "yellow": 0.9, "orange": 0.72, "red": 0.2}
    assert payload["label"] == "鼓楼区 五一路下穿通道"
    assert payload["peak_value"] == 16.0
    assert payload["peak_ts"] == (T0 + timedelta(minutes=100)).isoformat()
    assert payload["message_zh"] == change.warning.message_zh
    expected_keys = {"id", "domain", "series_id", "area_id", "message_en", "status"}
    assert expected_keys | {"opened_at", "updated_at"} <= payload.keys()


def test_a_forecast_wobbling_inside_the_clear_margin_does_not_reopen_warnings(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger)
    wobble = [0.55, 0.45, 0.52, 0.38, 0.6, 0.36]
    changes = [step(engine, {"blue": 1.0, "yellow": p}, i) for i, p in enumerate(wobble)]
    assert [len(c) for c in changes] == [1, 0, 0, 0, 0, 0]


def test_warnings_for_different_areas_are_independent(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    engine.evaluate(
        [ponding(ORANGE, series_id="a"), ponding(BLUE, series_id="b", area_id="taijiang")], now=T0
    )
    engine.evaluate([ponding(QUIET, series_id="a")], now=T0 + MIN10)
    assert ledger.current("waterlogging", "gulou") is None
    assert ledger.current("waterlogging", "taijiang").level == Level.BLUE
    assert [w.area_id for w in ledger.list(status="open")] == ["taijiang"]
    assert len(ledger.list(domain="traffic")) == 0


def test_acknowledging_records_who_and_escalation_asks_for_a_new_acknowledgement(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger)
    (opened,) = step(engine, YELLOW, 0)
    acked = ledger.acknowledge(opened.warning.id, by="值班员 张三", note="已派人查看", now=T0)
    assert (acked.status, acked.acked_by, acked.ack_note) == (
        "acknowledged",
        "值班员 张三",
        "已派人查看",
    )
    assert acked.to_dict()["acked_at"] == T0.isoformat()
    assert engine.evaluate([ponding(YELLOW, origin=T0 + MIN10)], now=T0 + MIN10) == []
    (raised,) = step(engine, RED, 2)
    assert raised.warning.status == "open" and raised.warning.acked_by == "值班员 张三"
    assert [h.action for h in ledger.history(acked.id)] == ["opened", "acknowledged", "escalated"]


def test_acknowledging_an_unknown_warning_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError, match="no-such-id"):
        ledger.acknowledge("no-such-id", by="officer")


def test_acknowledging_a_closed_warning_is_refused(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    (opened,) = step(engine, BLUE, 0)
    step(engine, QUIET, 1)
    with pytest.raises(DataError, match="closed"):
        ledger.acknowledge(opened.warning.id, by="officer")


def test_a_naive_evaluation_time_is_refused_before_anything_is_written(ledger: Ledger) -> None:
    engine = WarningEngine(ledger)
    with pytest.raises(DataError, match="naive"):
        engine.evaluate([ponding(RED)], now=datetime(2024, 7, 31, 6, 0))
    with pytest.raises(DataError, match="row 1"):
        engine.evaluate([ponding(RED), {"series_id": "x"}], now=T0)  # type: ignore[list-item]
    assert ledger.list() == [] and ledger.outbox() == []


def test_warning_to_dict_is_json_ready_with_levels_as_colour_and_number(ledger: Ledger) -> None:
    import json

    (change,) = WarningEngine(ledger).evaluate([ponding(ORANGE)], now=T0)
    d = json.loads(json.dumps(change.to_dict(), ensure_ascii=False))
    assert d["action"] == "opened" and d["to_level"] == "orange"
    w = d["warning"]
    assert (w["level"], w["level_number"], w["level_zh"]) == ("orange", 3, "橙色")
    assert w["opened_at"] == T0.isoformat() and w["closed_at"] is None
    assert ledger.get(w["id"]) == change.warning


def test_a_preview_names_the_changes_evaluate_then_makes_and_writes_nothing(
    ledger: Ledger,
) -> None:
    engine = WarningEngine(ledger)
    for i, p in enumerate([YELLOW, RED, BLUE]):
        t = T0 + i * MIN10
        batch = [ponding(p, origin=t), ponding(p, origin=t, series_id="pond-b")]
        if i == 2:  # a third target joins the blue warning's area at the same pass
            batch.append(ponding(BLUE, origin=t, series_id="pond-c"))
        before = (ledger.list(), ledger.outbox())
        planned = engine.preview(batch, now=t)
        assert (ledger.list(), ledger.outbox()) == before  # nothing written
        done = engine.evaluate(batch, now=t)
        assert [(p.action, p.from_level, p.to_level, p.message_zh) for p in planned] == [
            (c.action, c.from_level, c.to_level, c.warning.message_zh) for c in done
        ]
        assert all(p.targets == len(batch) for p in planned)
    grow = [ponding(BLUE, origin=T0 + 4 * MIN10, series_id=s) for s in ("pond-b", "pond-d")]
    (joined,) = engine.preview(grow, now=T0 + 4 * MIN10)
    assert (joined.action, joined.from_level, joined.to_level) == ("joined", Level.BLUE, Level.BLUE)
