"""Guarded promotion: a new version replaces the champion only on paired evidence.

Every trained model is registered. It becomes ``champion`` only if it beats the current
champion on the task's primary metric (``selection.metric``) over the same backtest folds;
otherwise it is ``challenger``. This module makes that decision after training and records it
in the registry (alias, tags, metrics, the paired scores as artifacts); the pieces are beside
it:

* :mod:`training.paired_comparison`: scores per (fold, series) pair, the margin and the
  one-sided Wilcoxon signed-rank test, the :class:`Verdict`;
* :mod:`training.champion_rescore`: the champion's configuration as it was trained, and its
  re-backtest on exactly the challenger's folds and origins (it must be for the same task,
  target and horizons, or the version stays challenger, with the reason, for a person to
  decide with ``citybrain promote``);
* :mod:`training.registry_actions`: people's overrides, :func:`promote_version` and
  :func:`rollback`, each tagged on the version and appended to the audit trail.

Callers import all of these from here (``__all__``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from features import CityTables, ConfigError, NotFoundError, TaskConfig
from training.backtest import BacktestData
from training.champion_rescore import champion_config, champion_scores_on
from training.paired_comparison import MIN_PAIRS, Verdict, compare, paired_scores
from training.registry_actions import RegistryAction, promote_version, rollback
from training.tracking import (
    CHALLENGER,
    CHAMPION,
    PROMOTED_BY_TRAINING,
    assign_alias,
    current_champion,
)

__all__ = [
    "CHAMPION_SCORES_ARTIFACT",
    "MIN_PAIRS",
    "PAIRED_SCORES_ARTIFACT",
    "RegistryAction",
    "Verdict",
    "champion_config",
    "champion_scores_on",
    "compare",
    "decide_promotion",
    "paired_scores",
    "promote_version",
    "rollback",
]

PAIRED_SCORES_ARTIFACT = "backtest/paired_scores.parquet"
CHAMPION_SCORES_ARTIFACT = "backtest/champion_paired_scores.parquet"


def decide_promotion(
    client: Any,
    name: str,
    version: str,
    challenger_scores: pl.DataFrame,
    data: BacktestData,
    task: TaskConfig,
    *,
    tables: CityTables | None = None,
    by: str = PROMOTED_BY_TRAINING,
) -> tuple[str, str]:
    """Make the newly registered ``version`` champion or challenger, on paired evidence.

    Logs ``challenger_scores`` (from :func:`paired_scores`) to the version's run as
    ``backtest/paired_scores.parquet``; re-backtests the current champion's configuration on
    ``data`` (the challenger's prepared backtest data; ``tables`` only needed when the
    champion's feature set differs), logs its scores as
    ``backtest/champion_paired_scores.parquet`` and the verdict's numbers as ``promotion_*``
    metrics; sets the alias and the tags ``promotion``, ``promotion_reason``, ``promoted_by``,
    ``promoted_at`` and, on replacing a champion, ``previous_champion``. When the champion
    cannot be re-scored (another target or horizons, a missing config, a family that no longer
    exists) the version stays challenger and the reason says why. Returns (alias, reason)."""
    version = str(version)
    run_id = client.get_model_version(name, version).run_id
    _log_frame(client, run_id, challenger_scores, PAIRED_SCORES_ARTIFACT)
    current = current_champion(client, name)
    previous = None
    if current is None:
        verdict = compare(challenger_scores, None, task.promotion)
    else:
        previous = str(current.version)
        label = f"champion v{previous}"
        try:
            champ_task, selected = champion_config(client, current)
            champ_scores = champion_scores_on(data, champ_task, selected, tables=tables)
        except (ConfigError, NotFoundError) as err:
            verdict = Verdict(
                False,
                f"not promoted: {label} could not be re-scored on these folds ({err}); "
                "compare them and promote by hand with `citybrain promote` if wanted",
            )
        else:
            _log_frame(client, run_id, champ_scores, CHAMPION_SCORES_ARTIFACT)
            verdict = compare(
                challenger_scores,
                champ_scores,
                task.promotion,
                metric=task.selection.metric,
                champion_label=label,
            )
    for key, value in verdict.metrics().items():
        client.log_metric(run_id, key, value)
    alias = CHAMPION if verdict.promote else CHALLENGER
    assign_alias(
        client,
        name,
        version,
        alias,
        reason=verdict.reason,
        by=by,
        previous=previous if verdict.promote else None,
    )
    return alias, verdict.reason


def _log_frame(client: Any, run_id: str, frame: pl.DataFrame, artifact: str) -> None:
    folder, _, file = artifact.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file
        frame.write_parquet(path)
        client.log_artifact(run_id, str(path), artifact_path=folder)
