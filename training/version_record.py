"""What the registry knows of a served version, for the people who rely on it: when it was
trained and how its backtest scored against the baseline on the same folds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from training.tracking import TrackingSettings, configure


@dataclass(frozen=True)
class VersionRecord:
    """A registered version's training time and its backtest's primary metric (``metric``,
    e.g. mae) for the model and for the baseline; a metric is None where the run lacks it."""

    version: str
    trained_at: datetime
    metric: str
    model: float | None
    baseline: float | None


def version_record(
    settings: TrackingSettings, task_name: str, version: str, metric: str
) -> VersionRecord | None:
    """The record of ``version`` of the task's registered model; None when the registry does
    not answer or holds no such version (a model served from the local copy is still served,
    only without its record)."""
    try:
        client = configure(settings)
        found = client.get_model_version(f"citybrain-{task_name}", str(version))
        metrics = client.get_run(found.run_id).data.metrics if found.run_id else {}
    except Exception:  # a registry away or a version deleted: nothing to say, nothing broken
        return None
    return VersionRecord(
        version=str(found.version),
        trained_at=datetime.fromtimestamp(found.creation_timestamp / 1000, UTC),
        metric=metric,
        model=metrics.get(f"model_{metric}"),
        baseline=metrics.get(f"baseline_{metric}"),
    )
