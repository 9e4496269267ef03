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
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import polars as pl
from optuna.trial import FrozenTrial, Trial, TrialState
from tqdm.auto import tqdm

from features.errors import CitybrainError, ConfigError
from features.tables import CityTables
from features.tasks import TaskConfig
from models.registry import build_forecaster
from training.backtest import BacktestData, backtest_model, prepare_backtest
from training.selection import metric_function
from training.tracking import TrackingSettings, configure

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
RANGE_KEYS = {"low", "high", "log", "step"}
HEARTBEAT_S = 10  # a worker's running trial is failed as stale after 3 missed heartbeats
MAX_FAILURES = 3  # trials failing in a row before a process gives up


class StorageError(CitybrainError):
    """The Optuna storage cannot be opened (unreachable server, bad URL, missing driver)."""

    http_status = 503


class TuningError(CitybrainError):
    """Trials keep failing, so the study cannot make progress."""

    http_status = 500


@dataclass(frozen=True)
class TuneOutcome:
    """What a study holds after this call (all workers' trials, not only this process's)."""

    study_name: str
    storage: str  # the URL with any password hidden
    metric: str
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    n_complete: int
    n_pruned: int
    n_failed: int
    n_ran: int  # trials this call ran
    trials: pl.DataFrame  # number, state, value, folds, seconds, fail_reason, params_<name>
    seconds: float


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
        logger = _TrialLogger(settings, parent_run_id, task.selection.metric, name)
        deadline = None if timeout_s is None else started + timeout_s
        with _quiet_optuna():
            study = _load_study(rdb, name, task, pruner, worker)
            trials = _Trials(study, rdb, data, task, space, logger)
            with _ProgressBar(n_trials, study, f"tune {name}", disable=not progress) as bar:
                ran = _optimize(trials, n_trials, _reservation(rdb, name), worker, deadline, bar)
            outcome = _outcome(study, rdb.url, task, ran, time.monotonic() - started)
    finally:
        rdb.engine.dispose()
    logger.summarise(outcome)
    return outcome


# -- search space ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One tuned parameter: a range (int when both bounds are) or a list of choices."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if isinstance(self.low, int) and isinstance(self.high, int):
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(self.name, self.low, self.high, step=step, log=self.log)
        return trial.suggest_float(
            self.name, float(self.low), float(self.high), step=self.step, log=self.log
        )

    def extremes(self) -> list[Any]:
        """The values a family's constructor is checked with before any trial runs."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


_SHAPE = "{low, high[, log, step]} (a range) or {choices: [...]}"


def parse_search_space(raw: dict[str, Any]) -> list[Dimension]:
    """The task's ``model.search_space`` as dimensions; a malformed entry is a ConfigError
    naming ``model.search_space.<param>`` and what is allowed."""
    if not raw:
        raise ConfigError(
            f"is empty: nothing to tune; declare at least one parameter as {_SHAPE}",
            key="model.search_space",
        )
    return [_dimension(str(name), spec) for name, spec in raw.items()]


def _dimension(name: str, spec: Any) -> Dimension:
    key = f"model.search_space.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"must be a mapping {_SHAPE}, got {spec!r}", key=key)
    if "choices" in spec:
        if set(spec) != {"choices"}:
            extra = sorted(set(spec) - {"choices"})
            raise ConfigError(f"choices take no other keys (got {extra}); use {_SHAPE}", key=key)
        choices = spec["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            raise ConfigError(f"choices must be a non-empty list, got {choices!r}", key=key)
        odd = [c for c in choices if c is not None and not isinstance(c, bool | int | float | str)]
        if odd:
            raise ConfigError(f"choices must be numbers, strings, booleans or null: {odd}", key=key)
        return Dimension(name, choices=tuple(choices))
    unknown = sorted(set(spec) - RANGE_KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; allowed: {_SHAPE}", key=key)
    missing = [k for k in ("low", "high") if k not in spec]
    if missing:
        raise ConfigError(f"a range needs low and high (missing {missing}); use {_SHAPE}", key=key)
    low, high, step = spec["low"], spec["high"], spec.get("step")
    for k, v in (("low", low), ("high", high), ("step", step)):
        if v is not None and not _is_number(v):
            hint = " (YAML reads 1e-4 as text: write 1.0e-4)" if isinstance(v, str) else ""
            raise ConfigError(f"{k} must be a number, got {v!r}{hint}", key=key)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"log must be true or false, got {log!r}", key=key)
    if low >= high:
        raise ConfigError(f"low ({low}) must be below high ({high})", key=key)
    if log and low <= 0:
        raise ConfigError(f"a log range needs low > 0, got {low}", key=key)
    if step is not None and step <= 0:
        raise ConfigError(f"step must be positive, got {step}", key=key)
    if step is not None and log:
        raise ConfigError("step and log cannot be combined; drop one", key=key)
    if isinstance(low, int) and isinstance(high, int) and isinstance(step, float):
        low, high = float(low), float(high)  # a fractional step makes it a float range
    return Dimension(name, low=low, high=high, log=log, step=step)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_family_params(space: list[Dimension], data: BacktestData, task: TaskConfig) -> None:
    """Build the family with each parameter's extreme values, so that a parameter (or value) the
    family does not take fails before any trial, naming ``model.search_space.<param>``."""
    for dim in space:
        for value in dim.extremes():
            try:
                build_forecaster(task.model, task=task, spec=data.spec, overrides={dim.name: value})
            except ConfigError as err:
                reason = err.message.removeprefix(f"{err.key}: ") if err.key else err.message
                raise ConfigError(
                    f"family {task.model.family} rejects {dim.name}={value!r}: {reason}",
                    key=f"model.search_space.{dim.name}",
                ) from None


# -- storage ---------------------------------------------------------------------------------


def default_storage(settings: TrackingSettings) -> str:
    """SQLite beside the MLflow database: ``<CITYBRAIN_HOME>/optuna.db``."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.home.resolve() / 'optuna.db'}"


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and records."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def open_storage(url: str, *, heartbeat: bool = False) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage (tables created if new); StorageError if it cannot be opened.
    With ``heartbeat`` running trials record heartbeats, so that a dead worker's trial is
    failed as stale and another worker redoes it."""
    from sqlalchemy.exc import SQLAlchemyError

    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)  # psycopg 3, not psycopg2
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": 10}
    beat = {"heartbeat_interval": HEARTBEAT_S, "grace_period": 3 * HEARTBEAT_S} if heartbeat else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **beat)
    except (SQLAlchemyError, ImportError, ValueError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        reason = reason.replace(url, redact(url))
        raise StorageError(
            f"cannot open the Optuna storage {redact(url)}: {reason}; check that the server is "
            "running and the URL (driver, host, port, database, user) is right"
        ) from None


def _load_study(
    rdb: optuna.storages.RDBStorage,
    name: str,
    task: TaskConfig,
    pruner: optuna.pruners.BasePruner | None,
    worker: bool,
) -> optuna.Study:
    """The study, created or continued; the sampler's seed is the task's, moved on by the
    trials already there (a resumed study does not replay its first samples; a worker adds its
    own entropy, so that workers starting together do not sample alike)."""
    study = optuna.create_study(
        storage=rdb, study_name=name, direction="minimize", load_if_exists=True
    )
    metric = study.user_attrs.get("metric")
    if metric is not None and metric != task.selection.metric:
        raise ConfigError(
            f"study {name!r} was tuned on {metric}, this task's metric is "
            f"{task.selection.metric}; name another study",
            key="selection.metric",
        )
    study.set_user_attr("metric", task.selection.metric)
    study.set_user_attr("task", task.name)
    seed = task.train.seed + len(study.get_trials(deepcopy=False))
    if worker:
        seed = int.from_bytes(os.urandom(4), "little") ^ seed
    return optuna.load_study(
        study_name=name,
        storage=rdb,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )


def _reservation(
    rdb: optuna.storages.RDBStorage, name: str
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A lock held while a process counts the study's trials and reserves the next, so that
    workers never start more trials than the study needs."""
    url = rdb.engine.url
    if url.get_backend_name() == "postgresql":
        from sqlalchemy import text

        key = int.from_bytes(hashlib.sha256(f"citybrain-tune:{name}".encode()).digest()[:8], "big")
        key -= 1 << 63  # a signed bigint

        @contextlib.contextmanager
        def advisory() -> Iterator[None]:
            with rdb.engine.begin() as conn:  # the lock goes with the transaction
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
                yield

        return advisory
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = f"{url.database}.lock"

        @contextlib.contextmanager
        def lock_file() -> Iterator[None]:
            import fcntl

            with open(path, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

        return lock_file
    return contextlib.nullcontext  # other databases: workers may overshoot by a few trials


# -- trials ----------------------------------------------------------------------------------


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
        logger: _TrialLogger,
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
        with _heartbeat(self.rdb, trial), self.logger.run(trial.number) as record:
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
    bar: _ProgressBar,
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
            # we keep the heartbeat ourselves (``_heartbeat``), outside ``Study.optimize``
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


@contextlib.contextmanager
def _heartbeat(rdb: optuna.storages.RDBStorage, trial: Trial) -> Iterator[None]:
    """Record the trial's heartbeat every few seconds while it runs (worker storages only)."""
    interval = rdb.get_heartbeat_interval()
    if interval is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is retried at the next
                rdb.record_heartbeat(trial._trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class _TrialLogger:
    """Each trial as a nested MLflow run of ``parent_run_id`` (nothing without one)."""

    def __init__(
        self, settings: TrackingSettings, parent_run_id: str | None, metric: str, study: str
    ) -> None:
        self.parent, self.metric, self.study = parent_run_id, metric, study
        self.experiment: str | None = None
        if parent_run_id is not None:
            client = configure(settings)
            self.experiment = client.get_run(parent_run_id).info.experiment_id

    @contextlib.contextmanager
    def run(self, number: int) -> Iterator[dict[str, Any]]:
        record: dict[str, Any] = {"state": "interrupted"}
        if self.parent is None:
            yield record
            return
        import mlflow

        mlflow.start_run(
            run_name=f"trial-{number}",
            nested=True,
            parent_run_id=self.parent,
            experiment_id=self.experiment,
            tags={"optuna.study": self.study, "optuna.trial": str(number)},
        )
        try:
            yield record
        finally:
            tags = {"state": record["state"]}
            if "reason" in record:
                tags["fail_reason"] = record["reason"]
            mlflow.set_tags(tags)
            if record.get("value") is not None:
                mlflow.log_metric(self.metric, record["value"])
            status = {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}
            mlflow.end_run(status=status.get(record["state"], "KILLED"))

    def params(self, params: dict[str, Any]) -> None:
        if self.parent is not None:
            import mlflow

            mlflow.log_params({f"model.{k}": v for k, v in params.items()})

    def fold(self, index: int, value: float, running: float) -> None:
        if self.parent is not None:
            import mlflow

            mlflow.log_metric(f"fold_{index}_{self.metric}", value, step=index)
            mlflow.log_metric(f"running_{self.metric}", running, step=index)

    def summarise(self, outcome: TuneOutcome) -> None:
        """The study's result as tags and a metric of the parent run."""
        if self.parent is None:
            return
        import mlflow

        client = mlflow.MlflowClient()
        client.log_metric(self.parent, f"tune_best_{self.metric}", outcome.best_value)
        for key, value in {
            "tune_study": outcome.study_name,
            "tune_storage": outcome.storage,
            "tune_best_trial": outcome.best_trial,
            "tune_best_params": outcome.best_params,
            "tune_trials": f"{outcome.n_complete} complete, {outcome.n_pruned} pruned, "
            f"{outcome.n_failed} failed",
        }.items():
            client.set_tag(self.parent, key, str(value))


class _ProgressBar:
    """A bar over the study's finished trials with the best so far; called like an Optuna
    callback, with the study and each trial as it finishes."""

    def __init__(self, total: int, study: optuna.Study, desc: str, *, disable: bool) -> None:
        self.total, self.disable = total, disable
        done = 0 if disable else len(study.get_trials(deepcopy=False, states=FINISHED))
        self.bar = tqdm(
            total=total, initial=min(done, total), desc=desc, unit="trial", disable=disable
        )
        self(study, None)

    def __call__(self, study: optuna.Study, trial: FrozenTrial | None) -> None:
        if self.disable:
            return
        self.bar.n = min(len(study.get_trials(deepcopy=False, states=FINISHED)), self.total)
        with contextlib.suppress(ValueError):  # no complete trial yet
            best = study.best_trial
            self.bar.set_postfix_str(f"best={best.value:.4g} (trial {best.number})", refresh=False)
        self.bar.refresh()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


# -- outcome ---------------------------------------------------------------------------------


def trials_table(study: optuna.Study) -> pl.DataFrame:
    """``number, state, value, folds, seconds, fail_reason, params_<name>...``, by number."""
    rows = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "folds": len(t.intermediate_values),
            "seconds": t.duration.total_seconds() if t.duration else None,
            "fail_reason": t.user_attrs.get("fail_reason"),
            **{f"params_{k}": v for k, v in t.params.items()},
        }
        for t in study.get_trials(deepcopy=False)
    ]
    schema = {
        "number": pl.Int64,
        "state": pl.String,
        "value": pl.Float64,
        "folds": pl.Int64,
        "seconds": pl.Float64,
        "fail_reason": pl.String,
    }
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.from_dicts(rows, schema_overrides=schema, infer_schema_length=None, strict=False)


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
