"""Training: backtests, metrics, selection, tuning, and the MLflow runs and registry.

``training`` turns a task config and the canonical tables into evidence and a registered
model: a rolling-origin backtest of the model, its candidates and the baseline on the same
folds (:func:`run_backtest`), the metrics that judge them (:mod:`training.metrics`), the
selection of what ships, Optuna tuning, and :func:`train_task`, which logs it all to MLflow and
promotes a new version only on paired evidence. Serving loads what it registered
(:func:`load_champion`) and tells when a version was trained and how it scored
(:func:`version_record`). Its command-line group (``backtest``, ``train``, ``promote``,
``rollback``, ``models``) is mounted by ``serving``. Import from here, not from the modules.
"""

from training import metrics
from training.backtest import (
    BacktestData,
    BacktestResult,
    Fold,
    plan_folds,
    prepare_backtest,
    run_backtest,
)
from training.cli import backtest as backtest_command
from training.cli import print_backtest, print_warning_skill
from training.cli import train as train_command
from training.metrics import (
    EventSkill,
    WarningSkill,
    by_horizon,
    event_skill,
    mae_by_horizon,
    score_table,
)
from training.promotion import champion_config
from training.registry_cli import models as models_command
from training.registry_cli import promote as promote_command
from training.registry_cli import rollback as rollback_command
from training.selection import ensemble_predictions, fold_scores
from training.tracking import (
    CHAMPION,
    REGISTRY_EXPERIMENT,
    CitybrainModel,
    LoadedChampion,
    RegistryUnreachableError,
    TrackingSettings,
    champion_version,
    configure,
    load_champion,
)
from training.train import TrainOutcome, TuningRequest, fit_final, train_task
from training.version_record import VersionRecord, version_record
from training.warning_replay import replay_warnings
from training.warning_rules import WarningRules, target_unit

__all__ = [
    "CHAMPION",
    "REGISTRY_EXPERIMENT",
    "BacktestData",
    "BacktestResult",
    "CitybrainModel",
    "EventSkill",
    "Fold",
    "LoadedChampion",
    "RegistryUnreachableError",
    "TrackingSettings",
    "TrainOutcome",
    "TuningRequest",
    "VersionRecord",
    "WarningRules",
    "WarningSkill",
    "backtest_command",
    "by_horizon",
    "champion_config",
    "champion_version",
    "configure",
    "ensemble_predictions",
    "event_skill",
    "fit_final",
    "fold_scores",
    "load_champion",
    "mae_by_horizon",
    "metrics",
    "models_command",
    "plan_folds",
    "prepare_backtest",
    "print_backtest",
    "print_warning_skill",
    "promote_command",
    "replay_warnings",
    "rollback_command",
    "run_backtest",
    "score_table",
    "target_unit",
    "train_command",
    "train_task",
    "version_record",
]
