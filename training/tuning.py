"""Hyperparameter tuning: an Optuna study over the task's ``model.search_space``.

Every trial backtests the task's model with the sampled parameters on the same folds (the
features are built once), reports the running mean of the task's primary metric after each fold,
and is pruned when it falls behind the median of the earlier trials. ``n_trials`` is the number
of finished (complete or pruned) trials the study should hold: a call after an interruption runs
only the remainder, and workers sharing one study (PostgreSQL, any machine) together run exactly
that many: a worker counts the finished trials and those running elsewhere, and starts one only
if that count is short, under a lock on the storage (an advisory lock on PostgreSQL, a lock file
beside a SQLite database). A failed trial is recorded with its error and does not count; a dead
worker's trial is failed once its heartbeat goes stale, and another worker redoes it. With a
parent MLflow run, each trial is a nested run of it.

The search space is parsed in :mod:`training.tuning_space`, the storage, locks, heartbeats
and seeding live in :mod:`training.tuning_storage`, and the outcome, trials table and MLflow
logging in :mod:`training.tuning_report`; this module is the study loop that ties them.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import optuna
import polars as pl
from optuna.trial import FrozenTrial, Trial, TrialState

from features import CitybrainError, CityTables, ConfigError, TaskConfig
from training.backtest import BacktestData, backtest_model, prepare_backtest
from training.selection import metric_function
from training.tracking import TrackingSettings
from training.tuning_report import FINISHED, ProgressBar, TrialLogger, TuneOutcome, trials_table
from training.tuning_space import Dimension, check_family_params, parse_search_space
from training.tuning_storage import (
    StorageError,
    default_storage,
    load_study,
    open_storage,
    redact,
    reservation,
    trial_heartbeat,
)

# the public API of tuning, wherever it is defined
__all__ = [
    "StorageError",
    "TuneOutcome",
    "TuningError",
    "default_storage",
    "parse_search_space",
    "trials_table",
    "tune",
]

MAX_FAILURES = 3  # trials failing in a row before a process gives up


class TuningError(CitybrainError):
    """Trials keep failing, so the study cannot make progress."""

    http_status = 500


def tune(
    tables_or_data: CityTables | BacktestData,
    task: TaskConfig,
    *,
    n_trials: int,
    storage: str | None = None,
    study_name: str | None = None,
    settings: TrackingSettings | None = None,
    parent_run_id: str | None = None,
    worker: bool = False,
    progress: bool = True,
    timeout_s: float | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> TuneOutcome:
    """Tune ``task.model`` over its search space until the study holds ``n_trials`` finished
    trials; returns the best parameters (``overrides`` for ``train_task``) and the trials.

    ``storage``: any SQLAlchemy URL (``postgresql://`` means psycopg 3); default SQLite at
    ``<CITYBRAIN_HOME>/optuna.db``.
    ``study_name``: default the task's name; an existing study is continued. ``worker``: other
    processes may share the study; without it this call is the study's only process, and trials
    an interrupted run left running are marked failed first. ``parent_run_id``: log each trial
    as a nested MLflow run of it (tracking set up from ``settings``). ``timeout_s``: start no
    trial after this long. ``pruner``: default a median pruner after 3 complete trials.
    """
    started = time.monotonic()
    if n_trials < 1:
        raise ConfigError(f"the number of trials must be at least 1, got {n_trials}", key="--tune")
    space = parse_search_space(task.model.search_space)
    settings = settings or TrackingSettings()
    url = storage or default_storage(settings)
    rdb = open_storage(url, heartbeat=worker)  # fails fast, before the features are built
    try:
        data = tables_or_data
        if not isinstance(data, BacktestData):
            data = prepare_backtest(data, task)
        elif data.task != task:
            raise ValueError("the backtest data were prepared for another task config")
        check_family_params(space, data, task)
        name = study_name or task.name
        logger = TrialLogger(settings, parent_run_id, task.selection.metric, name)
        deadline = None if timeout_s is None else started + timeout_s
        with _quiet_optuna():
            study = load_study(rdb, name, task, pruner, worker)
            trials = _Trials(study, rdb, data, task, space, logger)
            with ProgressBar(n_trials, study, f"tune {name}", disable=not progress) as bar:
                ran = _optimize(trials, n_trials, reservation(rdb, name), worker, deadline, bar)
            outcome = _outcome(study, rdb.url, task, ran, time.monotonic() - started)
    finally:
        rdb.engine.dispose()
    logger.summarise(outcome)
    return outcome


class _Trials:
    """One trial at a time: sample, backtest fold by fold (reporting, pruning), log the nested
    MLflow run, keep the heartbeat, and tell the study how it ended."""

    def __init__(
        self,
        study: optuna.Study,
        rdb: optuna.storages.RDBStorage,
        data: BacktestData,
        task: TaskConfig,
        space: list[Dimension],
        logger: TrialLogger,
    ) -> None:
        self.study, self.rdb, self.data, self.task = study, rdb, data, task
        self.space, self.logger = space, logger
        self.score = metric_function(task)

    def objective(self, trial: Trial) -> float:
        metric = self.task.selection.metric
        params = {dim.name: dim.suggest(trial) for dim in self.space}
        self.logger.params(params)
        scores: list[float] = []
        for i, preds in enumerate(backtest_model(self.data, self.task.model, overrides=params)):
            value = float(self.score(preds))
            if not math.isfinite(value):
                raise ValueError(f"{metric} is {value} on fold {i}")
            scores.append(value)
            running = sum(scores) / len(scores)
            trial.report(running, step=i)
            self.logger.fold(i, value, running)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{metric} {running:.4g} after fold {i} is behind")
        return sum(scores) / len(scores)

    def run(self, trial: Trial) -> FrozenTrial:
        study = self.study
        with trial_heartbeat(self.rdb, trial), self.logger.run(trial.number) as record:
            try:
                value = self.objective(trial)
            except optuna.TrialPruned:
                frozen = study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
                record.update(state="pruned", value=frozen.value)
                return frozen
            except (Exception, KeyboardInterrupt) as err:
                stopped = isinstance(err, KeyboardInterrupt)
                reason = "interrupted" if stopped else _reason(err)
                trial.set_user_attr("fail_reason", reason)
                record.update(state="interrupted" if stopped else "failed", reason=reason)
                frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                if stopped:
                    raise
                return frozen
            record.update(state="complete", value=value)
            return study.tell(trial, value, skip_if_finished=True)


def _reason(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text if len(text) <= 1000 else text[:997] + "..."


def _optimize(
    trials: _Trials,
    total: int,
    reserve: Callable[[], contextlib.AbstractContextManager[Any]],
    worker: bool,
    deadline: float | None,
    bar: ProgressBar,
) -> int:
    """Run trials until the study holds ``total`` finished (for a worker: finished or running
    elsewhere) trials, or the deadline passes; returns how many this process ran."""
    study = trials.study
    if not worker:  # the study's only process: whatever is still running was interrupted
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trials.rdb.set_trial_user_attr(t._trial_id, "fail_reason", "interrupted")
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    ran = failures = 0
    while deadline is None or time.monotonic() < deadline:
        with reserve():
            if worker:
                optuna.storages.fail_stale_trials(study)
            taken = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
            if len(taken) >= total:
                break
            trial = study.ask()
        frozen = trials.run(trial)
        ran += 1
        bar(study, frozen)
        failures = failures + 1 if frozen.state == TrialState.FAIL else 0
        if failures >= MAX_FAILURES:
            raise TuningError(
                f"{failures} trials in a row of study {study.study_name!r} failed; the last: "
                f"{frozen.user_attrs.get('fail_reason')}"
            )
    return ran


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial log lines and experimental-feature warnings off (the bar says it)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # we keep the heartbeat ourselves (``trial_heartbeat``), outside ``Study.optimize``
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _outcome(study: optuna.Study, url: str, task: TaskConfig, ran: int, s: float) -> TuneOutcome:
    table = trials_table(study)
    counts = {k: table.filter(pl.col("state") == k).height for k in ("complete", "pruned", "fail")}
    try:
        best = study.best_trial
    except ValueError:
        raise TuningError(
            f"study {study.study_name!r} has no complete trial yet ({counts['pruned']} pruned, "
            f"{counts['fail']} failed); run more trials"
        ) from None
    assert best.value is not None
    return TuneOutcome(
        study_name=study.study_name,
        storage=redact(url),
        metric=task.selection.metric,
        best_params=dict(best.params),
        best_value=float(best.value),
        best_trial=best.number,
        n_complete=counts["complete"],
        n_pruned=counts["pruned"],
        n_failed=counts["fail"],
        n_ran=ran,
        trials=table,
        seconds=s,
    )
