"""``citybrain keys``: create, list and revoke the service's API keys.

A key's token is printed once, at creation; the database keeps only its hash. The keys live in
the ledger's database (``CITYBRAIN_LEDGER_URL``, or ``<home>/warnings.db``) unless
``CITYBRAIN_KEYS_URL`` names another, so every replica of the server reads the same keys.
"""

from __future__ import annotations

import json

import click

from features import reports_errors
from serving.keys import ROLES, KeyStore
from serving.settings import Settings


@click.group("keys")
def keys_command() -> None:
    """API keys: who may call the service, in which roles (read, ingest, officer, admin)."""


@keys_command.command("create")
@click.option("--name", required=True, help="who holds the key (a person, a dashboard, a feed)")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLES),
    help="a role (repeat): read (dashboards), ingest (data feeds), officer (acknowledge, "
    "resolve, silence; reads too), admin (models, keys, quarantine; everything)",
)
@click.option("--json", "as_json", is_flag=True, help="print the key as JSON")
@reports_errors
def create(name: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Create a key and print its token (shown only now: store it where its holder needs it)."""
    key, token = KeyStore(Settings().keys).create(name, list(roles))
    if as_json:
        click.echo(json.dumps({**key.to_dict(), "token": token}, ensure_ascii=False))
        return
    click.echo(f"key {key.id} for {key.name} ({', '.join(key.roles)})")
    click.echo(token)
    click.echo("the token is shown only now; send it in the X-API-Key header", err=True)


@keys_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the keys as JSON")
@reports_errors
def list_keys(as_json: bool) -> None:
    """Every key (never its secret): id, holder, roles, created, revoked."""
    found = KeyStore(Settings().keys).list()
    if as_json:
        click.echo(json.dumps([k.to_dict() for k in found], ensure_ascii=False))
        return
    if not found:
        click.echo("no API keys yet; `citybrain keys create --name NAME --role read` makes one")
        return
    click.echo(f"{'id':<13} {'holder':<24} {'roles':<22} {'created (UTC)':<17} revoked")
    for k in found:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-"
        click.echo(
            f"{k.id:<13} {k.name[:24]:<24} {','.join(k.roles):<22} "
            f"{k.created_at:%Y-%m-%d %H:%M}  {revoked}"
        )


@keys_command.command("revoke")
@click.argument("key_id")
@reports_errors
def revoke(key_id: str) -> None:
    """Revoke a key for good; servers refuse it within CITYBRAIN_KEY_REFRESH_S seconds."""
    key = KeyStore(Settings().keys).revoke(key_id)
    when = f"{key.revoked_at:%Y-%m-%d %H:%M:%S} UTC" if key.revoked_at else "now"
    click.echo(f"key {key.id} ({key.name}) revoked at {when}")
