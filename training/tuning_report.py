"""What a tuning study reports: the outcome, the trials table, MLflow runs, a progress bar.

The study loop (:mod:`training.tuning`) runs trials; everything a person or a later run reads
about them is shaped here: each trial as a nested MLflow run of the training run (its
parameters, fold scores and how it ended), the study's result as tags of that parent run, a
progress bar with the best value so far, and :class:`TuneOutcome`, which counts all workers'
trials, not only this process's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import polars as pl
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from training.tracking import TrackingSettings, configure

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


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


class TrialLogger:
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


class ProgressBar:
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

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


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
