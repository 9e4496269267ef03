"""Registry commands of the ``citybrain`` command line: ``promote``, ``rollback``, ``models``.

Training promotes on evidence (``training.promotion``); these let a person override it and see
why each version holds its alias. Every override is tagged on the version (``promoted_by``,
``promoted_at``, ``promotion_reason``, ``previous_champion``) and appended to the audit trail,
an MLflow run of kind ``registry-action`` in the ``citybrain-registry-actions`` experiment, so
it lives wherever the registry does. Bad input exits with code 2 and a one-line reason.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import click

from features import NotFoundError, TaskConfig, load_task, reports_errors, task_option
from training import promotion
from training.tracking import (
    TrackingSettings,
    configure,
    model_name,
    registry_actions,
)

reason_option = click.option(
    "--reason", default=None, help="why (required; recorded on the version and in the audit)"
)
by_option = click.option(
    "--by", default=None, help="who decides (default: $USER, else 'unknown')", metavar="NAME"
)


def _who(by: str | None) -> str:
    return (by or os.environ.get("USER") or "unknown").strip() or "unknown"


def _registered(task_name: str) -> tuple[Any, TrackingSettings, TaskConfig, str]:
    """Client, settings, task and its registered model's name; NotFoundError if none."""
    task = load_task(task_name)
    settings = TrackingSettings()
    client = configure(settings)
    name = model_name(task)
    if not client.search_registered_models(f"name = '{name}'"):
        raise NotFoundError(
            f"no model registered for task {task.name!r} at {settings.tracking_uri}; run "
            f"`citybrain train --task {task_name}` first"
        )
    return client, settings, task, name


@click.command("promote")
@task_option
@click.option("--version", required=True, help="the registered version to make champion")
@reason_option
@by_option
@reports_errors
def promote(task_name: str, version: str, reason: str | None, by: str | None) -> None:
    """Make a version champion by hand; the replaced champion is remembered for rollback."""
    client, settings, _, name = _registered(task_name)
    action = promotion.promote_version(
        client, settings, name, version, reason=reason or "", by=_who(by)
    )
    was = f" (was v{action.previous})" if action.previous else ""
    click.echo(f"{name} v{action.version} is champion{was}; by {action.by}: {action.reason}")


@click.command("rollback")
@task_option
@reason_option
@by_option
@reports_errors
def rollback(task_name: str, reason: str | None, by: str | None) -> None:
    """Put back the champion that the current champion replaced."""
    client, settings, _, name = _registered(task_name)
    action = promotion.rollback(client, settings, name, reason=reason or "", by=_who(by))
    click.echo(
        f"{name} v{action.version} is champion again (rolled back from v{action.previous}); "
        f"by {action.by}: {action.reason}"
    )


@click.command("models")
@task_option
@click.option("--actions", default=5, show_default=True, help="latest manual actions to list")
@reports_errors
def models(task_name: str, actions: int) -> None:
    """Registered versions of a task: alias, primary metric, why, who and when."""
    client, settings, task, name = _registered(task_name)
    aliases = client.get_registered_model(name).aliases or {}
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    metric = task.selection.metric
    versions = sorted(
        client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)
    )
    plural = "" if len(versions) == 1 else "s"
    click.echo(f"{name} at {settings.tracking_uri}: {len(versions)} version{plural}")
    click.echo(
        f"{'version':>7}  {'alias':<18} {metric:>9}  {'registered':<16}  {'promoted by':<16} "
        f"{'at':<20} reason"
    )
    for v in versions:
        tags = v.tags or {}
        value = _run_metric(client, v.run_id, f"model_{metric}")
        shown = f"{value:>9.4f}" if value is not None else f"{'-':>9}"
        created = datetime.fromtimestamp(v.creation_timestamp / 1000, UTC)
        held = ",".join(sorted(by_version.get(str(v.version), []))) or "-"
        click.echo(
            f"{'v' + str(v.version):>7}  {held:<18} "
            f"{shown}  {created:%Y-%m-%d %H:%M}  {tags.get('promoted_by', '-'):<16} "
            f"{tags.get('promoted_at', '-'):<20} {tags.get('promotion_reason', '-')}"
        )
        if tags.get("rolled_back"):
            click.echo(f"{'':>9}rolled back: {tags['rolled_back']}")
    done = registry_actions(client, name, limit=max(actions, 0)) if actions > 0 else []
    if done:
        click.echo("\nManual actions, latest first:")
        for a in done:
            was = f" (was v{a['previous_version']})" if a.get("previous_version") else ""
            click.echo(
                f"  {a.get('at', '?')} {a.get('action', '?')} v{a.get('version', '?')}{was} by "
                f"{a.get('by', '?')}: {a.get('reason', '')}"
            )


def _run_metric(client: Any, run_id: str | None, key: str) -> float | None:
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id).data.metrics.get(key)
    except MlflowException:  # a deleted run: the version is still listed
        return None
