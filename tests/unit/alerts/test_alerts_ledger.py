"""The ledger: persistence, transactions, the outbox, and the same code on PostgreSQL."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alerts_builders import ORANGE, QUIET, RED, T0, ponding

from alerts import Ledger, Level, WarningEngine, WarningPlan
from features import ConfigError, DataError, NotFoundError


def test_warnings_survive_a_new_ledger_on_the_same_sqlite_file(db_url: str) -> None:
    first = Ledger(db_url)
    (change,) = WarningEngine(first).evaluate([ponding(ORANGE)], now=T0)
    first.acknowledge(change.warning.id, by="officer", now=T0 + timedelta(minutes=5))
    first.dispose()

    second = Ledger(db_url)
    again = second.get(change.warning.id)
    assert again.status == "acknowledged" and again.level == Level.ORANGE
    assert again.opened_at == T0 and again.opened_at.tzinfo is not None
    assert again.details["probabilities"]["orange"] == 0.72
    assert [h.action for h in second.history(again.id)] == ["opened", "acknowledged"]
    assert len(second.due(T0)) == 1
    # the engine reads the level back from the ledger: no reopening after a restart
    assert WarningEngine(second).evaluate([ponding(ORANGE)], now=T0 + timedelta(minutes=10)) == []
    second.dispose()


def test_a_new_warning_must_open_at_a_level_and_a_closed_one_cannot_change(
    ledger: Ledger,
) -> None:
    (opened,) = WarningEngine(ledger).evaluate([ponding(ORANGE)], now=T0)
    plan = WarningPlan(
        domain="waterlogging", area_id="gulou", warning_id=None, action="escalated",
        level=Level.RED, targets=(),
    )  # fmt: skip
    with pytest.raises(DataError, match="opened at a level"):
        ledger.save(plan, now=T0, channels=("webhook",))
    ledger.resolve(opened.warning.id, by="officer", note="drained", now=T0 + timedelta(minutes=1))
    late = WarningPlan(
        domain="waterlogging", area_id="gulou", warning_id=opened.warning.id,
        action="escalated", level=Level.RED, targets=(),
    )  # fmt: skip
    with pytest.raises(DataError, match="closed"):
        ledger.save(late, now=T0 + timedelta(minutes=2), channels=("webhook",))
    # the refused changes wrote nothing: the open and the resolution, each told once
    assert [h.action for h in ledger.history(opened.warning.id)] == ["opened", "resolved"]
    assert len(ledger.outbox()) == 1  # resolve was given no channels here


def test_an_older_ledger_database_is_refused_with_what_to_do(tmp_path) -> None:
    from sqlalchemy import create_engine, text

    db_url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE warnings (id VARCHAR(36) PRIMARY KEY, series_id TEXT)"))
    engine.dispose()
    with pytest.raises(ConfigError, match=r"older version .*move the database aside"):
        Ledger(db_url)


def test_a_ledger_from_before_the_outboxs_new_columns_gains_them_and_keeps_its_rows(
    tmp_path, caplog
) -> None:
    """Columns added since that may be empty are added (and logged); the rows stay as they
    were and are delivered as before."""
    from sqlalchemy import create_engine, text

    db_url = f"sqlite:///{tmp_path / 'old.db'}"
    ledger = Ledger(db_url)
    WarningEngine(ledger).evaluate([ponding(RED)], now=T0)
    ledger.dispose()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for column in ("first_tried_at", "retried_at", "retried_by"):
            conn.execute(text(f"ALTER TABLE outbox DROP COLUMN {column}"))
    engine.dispose()
    with caplog.at_level("WARNING", logger="alerts.schema"):
        again = Ledger(db_url)
    assert "added the column outbox.retried_by" in caplog.text
    (item,) = again.outbox()
    assert (item.status, item.retried_by, item.first_tried_at) == ("pending", None, None)
    again.mark_sent(item.id, now=T0)
    assert again.outbox()[0].first_tried_at == T0
    again.dispose()


def test_unknown_ids_and_statuses_are_reported_clearly(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError):
        ledger.get("nope")
    with pytest.raises(NotFoundError):
        ledger.history("nope")
    with pytest.raises(NotFoundError):
        ledger.mark_sent("nope")
    with pytest.raises(DataError, match="status"):
        ledger.list(status="pending")


def test_due_respects_next_attempt_times_and_counts_attempts(ledger: Ledger) -> None:
    WarningEngine(ledger).evaluate([ponding(RED)], now=T0)
    (item,) = ledger.due(T0)
    ledger.mark_retry(item.id, "boom", T0 + timedelta(seconds=30))
    assert ledger.due(T0 + timedelta(seconds=29)) == []
    (again,) = ledger.due(T0 + timedelta(seconds=30))
    assert (again.attempts, again.last_error) == (1, "boom")
    assert ledger.next_due_at() == T0 + timedelta(seconds=30)
    ledger.mark_sent(item.id, now=T0 + timedelta(seconds=31))
    (sent,) = ledger.outbox(status="sent")
    assert sent.attempts == 2 and sent.sent_at == T0 + timedelta(seconds=31)
    assert ledger.next_due_at() is None


def _postgres_url() -> str:
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2"), ("pg8000", "pg8000")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://postgres@127.0.0.1:5432/test"
    pytest.skip("no PostgreSQL driver installed: add psycopg[binary] (psycopg 3) to the dev extras")


@pytest.fixture
def pg_ledger() -> Iterator[tuple[Ledger, str, str]]:
    """A ledger on the real PostgreSQL in tables of its own, dropped afterwards: (ledger, url,
    table prefix), so a test can open a second ledger on the same tables."""
    url = _postgres_url()
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    try:
        ledger = Ledger(url, table_prefix=prefix)
    except Exception as err:  # server absent: say so rather than fail every offline run
        pytest.skip(f"PostgreSQL at {url} is not reachable: {err}")
    try:
        yield ledger, url, prefix
    finally:
        ledger.drop_tables()
        ledger.dispose()


@pytest.mark.postgres
def test_the_ledger_runs_unchanged_on_postgresql(pg_ledger: tuple[Ledger, str, str]) -> None:
    ledger, url, prefix = pg_ledger
    engine = WarningEngine(ledger)
    (opened,) = engine.evaluate([ponding(ORANGE)], now=T0)
    ledger.acknowledge(opened.warning.id, by="值班员", now=T0 + timedelta(minutes=1))
    (closed,) = engine.evaluate([ponding(QUIET)], now=T0 + timedelta(minutes=10))
    assert closed.action == "closed"
    reopened = Ledger(url, table_prefix=prefix)
    again = reopened.get(opened.warning.id)
    reopened.dispose()
    assert again.status == "closed" and again.opened_at == T0
    assert again.message_zh.startswith("【橙色预警解除】")
    assert [h.action for h in ledger.history(again.id)] == ["opened", "acknowledged", "closed"]
    assert len(ledger.due(T0 + timedelta(minutes=10))) == 2


@pytest.mark.postgres
def test_the_duty_officers_workflow_runs_unchanged_on_postgresql(
    pg_ledger: tuple[Ledger, str, str],
) -> None:
    """Grouping, joins, a silence, escalation along a roster, acknowledgement and resolution:
    the same transactions on the production database."""
    from alerts import Escalator, parse_roster

    ledger = pg_ledger[0]
    roster = parse_roster(
        {"rosters": [{"tiers": [
            {"name": "duty", "contacts": [{"name": "a", "channels": ["webhook"]}]},
            {"name": "leader", "after": "15m", "contacts": [{"name": "b", "channels": ["sms"]}]},
        ]}]}
    )  # fmt: skip
    minute = timedelta(minutes=1)
    engine = WarningEngine(ledger, roster=roster)
    batch = [ponding(ORANGE, series_id=f"p{i}") for i in range(3)]
    (opened,) = engine.evaluate(batch, now=T0)
    assert len(opened.warning.active) == 3
    assert engine.evaluate([ponding(RED, series_id="p9")], now=T0 + minute)[0].action == (
        "escalated"
    )
    ledger.add_silence(
        area_id="taijiang", starts_at=T0, ends_at=T0 + 60 * minute, created_by="x",
        comment="handled", now=T0,
    )  # fmt: skip
    (silenced,) = engine.evaluate(
        [ponding(RED, series_id="t1", area_id="taijiang")], now=T0 + minute
    )
    assert silenced.silenced_by is not None
    paged = {w.area_id: w.tier for w in Escalator(ledger, roster).escalate_due(T0 + 16 * minute)}
    assert paged == {"gulou": 1, "taijiang": 1}  # the silenced one climbs too, unheard
    ledger.acknowledge(opened.warning.id, by="b", now=T0 + 17 * minute)
    done = ledger.resolve(opened.warning.id, by="b", note="drained", now=T0 + 30 * minute)
    assert done.status == "closed" and done.resolved_by == "b"
    actions = [h.action for h in ledger.history(opened.warning.id)]
    assert actions == ["opened", "escalated", "joined", "paged", "acknowledged", "resolved"]
    channels = [r.channel for r in ledger.outbox(warning_id=opened.warning.id)]
    assert channels == ["webhook", "webhook", "sms"]  # opened, escalated, paged
    assert ledger.target_levels("waterlogging") == {"t1": Level.RED}
