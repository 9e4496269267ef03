"""Where a tuning study lives, and how workers sharing it stay in step.

A study is kept in an Optuna RDB storage (SQLite beside the MLflow database by default, or
PostgreSQL for workers on several machines), opened here with a clear StorageError when it
cannot be. Workers sharing one study coordinate through it: each counts the finished and
running trials and reserves the next under a lock on the storage (an advisory lock on
PostgreSQL, a lock file beside a SQLite database), so together they run exactly the trials
asked for; a running trial records a heartbeat, so that a dead worker's trial is failed as
stale and another worker redoes it. The sampler is seeded here too, so that a resumed study
does not replay its first samples and workers starting together do not sample alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.trial import Trial

from features import CitybrainError, ConfigError, TaskConfig
from training.tracking import TrackingSettings

HEARTBEAT_S = 10  # a worker's running trial is failed as stale after 3 missed heartbeats


class StorageError(CitybrainError):
    """The Optuna storage cannot be opened (unreachable server, bad URL, missing driver)."""

    http_status = 503


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
    beat: dict[str, Any] = (
        {"heartbeat_interval": HEARTBEAT_S, "grace_period": 3 * HEARTBEAT_S} if heartbeat else {}
    )
    try:
        with warnings.catch_warnings(), _schema_lock(url, kwargs):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **beat)
    except (SQLAlchemyError, ImportError, ValueError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        reason = reason.replace(url, redact(url))
        raise StorageError(
            f"cannot open the Optuna storage {redact(url)}: {reason}; check that the server is "
            "running and the URL (driver, host, port, database, user) is right"
        ) from None


@contextlib.contextmanager
def _schema_lock(url: str, engine_kwargs: dict[str, Any]) -> Iterator[None]:
    """On PostgreSQL, one opener at a time: each creates Optuna's tables if they are missing,
    and workers starting together on a new database otherwise collide in concurrent CREATE
    TABLEs ("duplicate key value violates unique constraint pg_type_typname_nsp_index")."""
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, **engine_kwargs)
    key = {"k": _advisory_key("citybrain-optuna-schema")}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), key)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
    finally:
        engine.dispose()


def _advisory_key(label: str) -> int:
    """A PostgreSQL advisory lock key (a signed bigint) for ``label``."""
    digest = hashlib.sha256(label.encode()).digest()[:8]
    return int.from_bytes(digest, "big") - (1 << 63)


def load_study(
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


def reservation(
    rdb: optuna.storages.RDBStorage, name: str
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A lock held while a process counts the study's trials and reserves the next, so that
    workers never start more trials than the study needs."""
    url = rdb.engine.url
    if url.get_backend_name() == "postgresql":
        from sqlalchemy import text

        key = _advisory_key(f"citybrain-tune:{name}")

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


@contextlib.contextmanager
def trial_heartbeat(rdb: optuna.storages.RDBStorage, trial: Trial) -> Iterator[None]:
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
