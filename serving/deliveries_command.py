"""``citybrain deliveries``: what the outbox holds, and putting dead letters back.

Works on the ledger's database (``CITYBRAIN_LEDGER_URL``, or ``<home>/warnings.db``), as the
server's ``GET /v1/deliveries`` and ``POST /v1/deliveries/retry`` do; a running server's
delivery loop picks requeued messages up within ``CITYBRAIN_DISPATCH_INTERVAL_S``.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime

import click

from alerts import OUTBOX_STATUSES, Ledger
from features import reports_errors
from serving.settings import Settings


@click.group("deliveries")
def deliveries_command() -> None:
    """Warning messages to channels: pending, sent, and failed (the dead letters)."""


@deliveries_command.command("list")
@click.option("--state", type=click.Choice(OUTBOX_STATUSES), help="only these")
@click.option("--channel", help="only this channel's")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print them as JSON")
@reports_errors
def list_deliveries(state: str | None, channel: str | None, limit: int, as_json: bool) -> None:
    """The latest messages, oldest first: state, tries, and why the last one failed."""
    ledger = Ledger(Settings().ledger)
    try:
        found = ledger.outbox(status=state, channel=channel, limit=limit)
    finally:
        ledger.dispose()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in found], ensure_ascii=False))
        return
    if not found:
        click.echo("no messages" + (f" {state}" if state else ""))
        return
    click.echo(f"{'id':<36}  {'channel':<14} {'state':<8} {'tries':>5}  {'queued (UTC)':<16}  why")
    for r in found:
        why = (r.last_error or "")[:60]
        click.echo(
            f"{r.id:<36}  {r.channel[:14]:<14} {r.status:<8} {r.attempts:>5}  "
            f"{r.created_at:%Y-%m-%d %H:%M}  {why}"
        )


@deliveries_command.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--failed", "every_failed", is_flag=True, help="every failed message")
@click.option("--channel", help="with --failed: only this channel's")
@reports_errors
def retry(ids: tuple[str, ...], every_failed: bool, channel: str | None) -> None:
    """Put messages back in the queue, due now with a fresh deadline: the given ids, or
    ``--failed`` every dead letter (after fixing the receiver that refused them)."""
    if bool(ids) == every_failed:
        raise click.UsageError("give message ids, or --failed (not both)")
    if channel and not every_failed:
        raise click.UsageError("--channel goes with --failed")
    ledger = Ledger(Settings().ledger)
    try:
        rows = ledger.requeue(ids, channel=channel, by=f"cli:{getpass.getuser()}",
                              now=datetime.now(UTC))  # fmt: skip
    finally:
        ledger.dispose()
    click.echo(f"{len(rows)} message(s) back in the queue, due now")
