"""MLflow tracking and registry: where runs go, how models are packaged, who is champion.

The embedded default is a SQLite backend and a local artifact folder under the citybrain home
(``CITYBRAIN_HOME``, default ``./.citybrain``); ``CITYBRAIN_MLFLOW_URI`` points at a tracking
server instead. Models are packaged as one ``mlflow.pyfunc.PythonModel`` wrapper holding the
fitted forecaster, its task config and its feature spec, so whoever loads the model rebuilds
exactly the features it was trained on.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from pydantic_settings import BaseSettings, SettingsConfigDict

from features import CitybrainError, FeatureSpec, NotFoundError, TargetHistory, TaskConfig
from models import Forecaster, history_covariates, history_span

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


class TrackingSettings(BaseSettings):
    """Where MLflow keeps runs and models (runtime settings, never task meaning)."""

    model_config = SettingsConfigDict(env_prefix="CITYBRAIN_", extra="ignore")

    home: Path = Path(".citybrain")
    mlflow_uri: str | None = None

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_uri:
            return self.mlflow_uri
        return f"sqlite:///{self.home.resolve() / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home.resolve() / "mlartifacts"


def model_name(task: TaskConfig) -> str:
    return f"citybrain-{task.name}"


def configure(settings: TrackingSettings) -> Any:
    """Point MLflow at the configured backend and return a client."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # promotion downloads the champion's config; no progress bars in our output
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    settings.home.mkdir(parents=True, exist_ok=True)
    # MLflow's own chatter (schema migrations, pickling advice) is not for our users
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return mlflow.MlflowClient()


def experiment_id(client: Any, settings: TrackingSettings, task: TaskConfig) -> str:
    """The task's experiment (``citybrain/<task>``), created with a local artifact folder."""
    name = f"citybrain/{task.name}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if not settings.mlflow_uri:
        location = (settings.artifact_root / task.name).as_uri()
    return client.create_experiment(name, artifact_location=location)


class CitybrainModel:
    """The pyfunc wrapper: forecaster + task config + feature spec, in one loadable object.

    MLflow's ``PythonModel`` is a library boundary that speaks pandas; our own code unwraps it
    (``unwrap_python_model()``) and works with Polars.
    """

    def __init__(self, forecaster: Forecaster, task: TaskConfig, spec: FeatureSpec) -> None:
        self.forecaster = forecaster
        self.task_config = task.model_dump(mode="json")
        self.feature_spec = spec.to_dict()

    @property
    def task(self) -> TaskConfig:
        return TaskConfig.model_validate(self.task_config)

    @property
    def spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.feature_spec)

    def predict_frame(
        self, frame: pl.DataFrame, history: TargetHistory | None = None
    ) -> pl.DataFrame:
        return self.forecaster.predict(frame, history)

    @property
    def history_span(self) -> timedelta | None:
        """How much target history serving must hand the model (None: none)."""
        return history_span(self.forecaster)

    @property
    def history_covariates(self) -> tuple[str, ...]:
        """The observed covariates serving must hand the model beside the history."""
        return history_covariates(self.forecaster)


def _python_model(wrapper: CitybrainModel) -> Any:
    import mlflow.pyfunc
    import pandas as pd  # MLflow's pyfunc boundary speaks pandas

    def predict(self: Any, context: Any, model_input: Any, params: Any = None) -> Any:
        frame = pl.from_pandas(model_input)
        if "horizon" not in frame.columns and "horizon_min" in frame.columns:
            frame = frame.with_columns(
                pl.duration(minutes=pl.col("horizon_min")).cast(pl.Duration("us")).alias("horizon")
            )
        for col in ("origin", "ts"):
            if col in frame.columns and frame.schema[col] == pl.Datetime("ns"):
                frame = frame.with_columns(pl.col(col).dt.replace_time_zone("UTC"))
        return self.inner.predict_frame(frame).to_pandas()

    def init(self: Any, inner: CitybrainModel) -> None:
        self.inner = inner

    # real (not string) annotations, which MLflow reads when the class is created
    predict.__annotations__ = {"model_input": pd.DataFrame, "return": pd.DataFrame}
    cls = type(
        "CitybrainPyFunc", (mlflow.pyfunc.PythonModel,), {"__init__": init, "predict": predict}
    )
    return cls(wrapper)


def input_example(frame: pl.DataFrame, spec: FeatureSpec, rows: int = 5) -> Any:
    """A few feature rows as pandas, with horizon in minutes and times as naive UTC."""
    cols = [
        "series_id",
        "origin",
        "ts",
        "horizon_min",
        *[c for c in spec.columns if c != "horizon_min"],
    ]
    head = (
        frame.head(rows)
        .select(cols)
        .with_columns(pl.col("origin", "ts").dt.replace_time_zone(None))
    )
    return head.to_pandas()


def log_model(wrapper: CitybrainModel, *, name: str, example: Any = None) -> Any:
    """Log the wrapper as an MLflow pyfunc model (with a signature inferred from ``example``)
    in the active run and register a version."""
    import mlflow

    with warnings.catch_warnings():
        # MLflow's advice on type hints and integer columns; our signature comes from the example
        warnings.simplefilter("ignore", UserWarning)
        return _log(mlflow, wrapper, name, example)


def _log(mlflow: Any, wrapper: CitybrainModel, name: str, example: Any) -> Any:
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=_python_model(wrapper),
        input_example=example,
        registered_model_name=name,
        pip_requirements=["citybrain"],
        await_registration_for=60,
    )


# --------------------------------------------------------------------------------------------
# registry primitives: aliases, their tags, and the audit trail of manual actions

PROMOTED_BY_TRAINING = "citybrain train"
REGISTRY_EXPERIMENT = "citybrain-registry-actions"
REGISTRY_ACTION_KIND = "registry-action"
_TAG_LIMIT = 4000  # MLflow caps tag values (5000 characters on the SQL stores)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _missing(err: Exception) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(err, MlflowException) and err.error_code in (
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
    )


def current_champion(client: Any, name: str) -> Any | None:
    """The model version holding the ``champion`` alias, or None (no model or no champion)."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except Exception as err:
        if _missing(err):
            return None
        raise


def model_version(client: Any, name: str, version: str) -> Any | None:
    """The registered version, or None when the model or the version does not exist."""
    try:
        return client.get_model_version(name, str(version))
    except Exception as err:
        if _missing(err):
            return None
        raise


def assign_alias(
    client: Any,
    name: str,
    version: str,
    alias: str,
    *,
    reason: str,
    by: str = PROMOTED_BY_TRAINING,
    previous: str | None = None,
    at: str | None = None,
) -> None:
    """Point ``alias`` (champion or challenger) at ``version`` and record why on the version:
    tags ``promotion``, ``promotion_reason``, ``promoted_by``, ``promoted_at`` (UTC ISO) and,
    for a new champion that replaced another, ``previous_champion`` (what a rollback returns
    to). A version made champion loses the challenger alias if it held it."""
    version = str(version)
    client.set_registered_model_alias(name, alias, version)
    if alias == CHAMPION:
        aliases = client.get_registered_model(name).aliases or {}
        if str(aliases.get(CHALLENGER, "")) == version:
            client.delete_registered_model_alias(name, CHALLENGER)
    tags = {
        "promotion": alias,
        "promotion_reason": _clip(reason),
        "promoted_by": _clip(by),
        "promoted_at": at or utc_now(),
    }
    if previous is not None:
        tags["previous_champion"] = str(previous)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    log.info("model %s v%s -> %s: %s", name, version, alias, reason)


def _clip(text: str) -> str:
    return text if len(text) <= _TAG_LIMIT else text[: _TAG_LIMIT - 1] + "\u2026"


def registry_experiment_id(client: Any, settings: TrackingSettings) -> str:
    """The experiment holding one run per manual registry action (the audit trail)."""
    found = client.get_experiment_by_name(REGISTRY_EXPERIMENT)
    if found is not None:
        return found.experiment_id
    location = None
    if not settings.mlflow_uri:
        location = (settings.artifact_root / REGISTRY_EXPERIMENT).as_uri()
    return client.create_experiment(REGISTRY_EXPERIMENT, artifact_location=location)


def record_registry_action(
    client: Any,
    settings: TrackingSettings,
    *,
    action: str,
    name: str,
    version: str,
    previous: str | None,
    by: str,
    reason: str,
    at: str,
) -> str:
    """Append a manual action (promote, rollback) to the audit trail: a finished MLflow run of
    kind ``registry-action`` in the ``citybrain-registry-actions`` experiment, whose tags say
    what, which model and versions, who, when and why. It lives with the registry, so every
    operator of a shared tracking server sees the same trail. Returns the run id."""
    exp = registry_experiment_id(client, settings)
    tags = {
        "kind": REGISTRY_ACTION_KIND,
        "action": action,
        "model": name,
        "version": str(version),
        "previous_version": "" if previous is None else str(previous),
        "by": _clip(by),
        "reason": _clip(reason),
        "at": at,
        "mlflow.user": by[:250],
    }
    run = client.create_run(exp, tags=tags, run_name=f"{action} {name} v{version}")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def registry_actions(client: Any, name: str, *, limit: int = 20) -> list[dict[str, str]]:
    """The latest manual actions on a registered model, newest first (tags of each run)."""
    found = client.get_experiment_by_name(REGISTRY_EXPERIMENT)
    if found is None:
        return []
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.kind = '{REGISTRY_ACTION_KIND}' and tags.model = '{name}'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    return [dict(r.data.tags) for r in runs]


class RegistryUnreachableError(CitybrainError):
    """The model registry could not be asked (a tracking server down, a database away)."""

    http_status = 503


@dataclass(frozen=True)
class LoadedChampion:
    """A champion as loaded: the model, its version, and whether it came from the local copy
    because the registry could not be reached (``why`` then says what failed)."""

    model: CitybrainModel
    version: str
    cached: bool = False
    why: str = ""


def champion_version(settings: TrackingSettings, task_name: str) -> str:
    """The registered version the task's champion alias points at.

    Raises:
        NotFoundError: the task has no champion.
        RegistryUnreachableError: the registry did not answer.
    """
    from mlflow.exceptions import MlflowException

    name = f"citybrain-{task_name}"
    try:
        client = configure(settings)
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise NotFoundError(
                f"no champion model for task {task_name!r} at {settings.tracking_uri}; run "
                f"`citybrain train --task {task_name}` first"
            ) from err
        raise RegistryUnreachableError(
            f"the model registry at {settings.tracking_uri} did not answer: {err.message[:200]}"
        ) from err
    except Exception as err:  # a connection refused, a database gone
        raise RegistryUnreachableError(
            f"the model registry at {settings.tracking_uri} did not answer: "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from err


def load_champion(
    settings: TrackingSettings, task_name: str, *, cache: Path | None = None
) -> LoadedChampion:
    """The champion of a task, its version, and where it came from.

    With ``cache`` (a folder), each champion loaded from the registry is also kept there (its
    MLflow model folder, per task), and when the registry cannot be reached the last one kept
    is loaded instead, marked ``cached`` with why: a service keeps serving through a registry
    outage, and says so.

    Raises:
        NotFoundError: the task has no champion (and, without a registry, none is cached).
    """
    import mlflow.pyfunc

    name = f"citybrain-{task_name}"
    kept = cache / task_name if cache is not None else None
    try:
        version = champion_version(settings, task_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # MLflow's type-hint advice
            if kept is None:
                loaded = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
                return LoadedChampion(loaded.unwrap_python_model().inner, version)
            import mlflow.artifacts

            fresh = kept.with_name(f".{task_name}-{version}.part")
            shutil.rmtree(fresh, ignore_errors=True)
            fresh.parent.mkdir(parents=True, exist_ok=True)
            mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(fresh))
            (fresh / "VERSION").write_text(version)
            shutil.rmtree(kept, ignore_errors=True)
            fresh.rename(kept)
            loaded = mlflow.pyfunc.load_model(str(kept))
            return LoadedChampion(loaded.unwrap_python_model().inner, version)
    except RegistryUnreachableError as err:
        if kept is None or not (kept / "VERSION").exists():
            raise NotFoundError(f"{err.message}; and no copy of the champion is kept") from err
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            loaded = mlflow.pyfunc.load_model(str(kept))
        version = (kept / "VERSION").read_text().strip()
        return LoadedChampion(
            loaded.unwrap_python_model().inner, version, cached=True, why=err.message
        )
