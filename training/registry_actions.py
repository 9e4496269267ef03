"""People's overrides of promotion: promote a version by hand, or roll back to the previous one.

Training promotes on evidence (:mod:`training.promotion`); a person may know better (an
incident, a data fault the backtest could not see). Each action needs a reason, is tagged on
the version (who, when, why, and the ``previous_champion`` a later rollback returns to) and is
appended to the audit trail (an MLflow run of kind ``registry-action``, see
``training.tracking.record_registry_action``). Rollbacks stack: a restored version keeps its
own ``previous_champion``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from features import ConfigError, NotFoundError
from training.tracking import (
    CHAMPION,
    TrackingSettings,
    assign_alias,
    current_champion,
    model_version,
    record_registry_action,
    utc_now,
)


@dataclass(frozen=True)
class RegistryAction:
    action: str
    name: str
    version: str
    previous: str | None
    by: str
    reason: str
    at: str


def promote_version(
    client: Any, settings: TrackingSettings, name: str, version: str, *, reason: str, by: str
) -> RegistryAction:
    """A person makes ``version`` champion: the replaced champion is recorded as the version's
    ``previous_champion`` (what :func:`rollback` returns to), who and why as its tags, and the
    action in the audit trail."""
    version = _version_text(version)
    reason = _required_reason(reason)
    found = model_version(client, name, version)
    if found is None:
        raise NotFoundError(f"{name} has no version {version} ({_versions_known(client, name)})")
    current = current_champion(client, name)
    previous = None if current is None else str(current.version)
    if previous == version:
        raise ConfigError(f"{name} v{version} is already the champion")
    return _apply(client, settings, "promote", name, version, previous, by, reason)


def rollback(
    client: Any, settings: TrackingSettings, name: str, *, reason: str, by: str
) -> RegistryAction:
    """A person puts back the champion that the current one replaced (its ``previous_champion``
    tag); the rolled-back version is tagged ``rolled_back`` with when, who and why."""
    reason = _required_reason(reason)
    current = current_champion(client, name)
    if current is None:
        raise NotFoundError(f"{name} has no champion to roll back")
    previous = (current.tags or {}).get("previous_champion")
    if not previous:
        raise NotFoundError(
            f"{name} champion v{current.version} replaced no earlier champion (no "
            "previous_champion tag): nothing to roll back to; use `citybrain promote --version`"
        )
    if model_version(client, name, previous) is None:
        raise NotFoundError(
            f"{name} champion v{current.version} replaced v{previous}, which no longer exists"
        )
    action = _apply(client, settings, "rollback", name, previous, str(current.version), by, reason)
    client.set_model_version_tag(
        name,
        str(current.version),
        "rolled_back",
        f"{action.at} by {by}, back to v{previous}: {reason}",
    )
    return action


def _apply(
    client: Any,
    settings: TrackingSettings,
    action: str,
    name: str,
    version: str,
    replaced: str | None,
    by: str,
    reason: str,
) -> RegistryAction:
    at = utc_now()
    if action == "promote":
        # the replaced champion becomes what a later rollback returns to
        text = f"promoted by hand: {reason}"
        assign_alias(client, name, version, CHAMPION, reason=text, by=by, previous=replaced, at=at)
    else:
        # a rollback keeps the restored version's own previous_champion, so rollbacks stack
        text = f"rolled back from v{replaced}: {reason}"
        assign_alias(client, name, version, CHAMPION, reason=text, by=by, at=at)
    record_registry_action(
        client,
        settings,
        action=action,
        name=name,
        version=version,
        previous=replaced,
        by=by,
        reason=reason,
        at=at,
    )
    return RegistryAction(action, name, version, replaced, by, reason, at)


def _required_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise ConfigError("a reason is required: say why, it is recorded", key="--reason")
    return text


def _version_text(version: str) -> str:
    text = str(version).strip().removeprefix("v")
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"a model version is a positive number (got {version!r})", key="--version"
        )
    return str(int(text))


def _versions_known(client: Any, name: str) -> str:
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    if not versions:
        return "it has no versions"
    return "versions: " + ", ".join(str(v) for v in versions)
