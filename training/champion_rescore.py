"""The champion re-scored on the challenger's folds, so that the two can be paired.

A challenger's backtest and the champion's, logged months apart, do not cover the same folds,
origins or data; the champion is therefore re-backtested from its logged configuration
(``config/task.yaml`` of its run, with the model parameters the run logged, and the model its
selection picked) on exactly the challenger's folds and origins, with current code and data.

The champion's configuration must be for the same task name, target and horizons (and
quantiles when the metric is CRPS); otherwise the scores would not measure the same thing and
a ConfigError says why. When the champion's feature set differs from the challenger's
(features, frequency or training stride; the config's ``task_hash`` tells configs apart, these
parts tell whether the data must be rebuilt), its backtest data are rebuilt from the tables
with its own config and the challenger's folds; otherwise the challenger's prepared data are
reused with the champion's config (its model, candidates, calibration and training window).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from features import CityTables, ConfigError, Duration, ModelSpec, TaskConfig, parse_task
from training.backtest import BacktestData, backtest_model, prepare_backtest
from training.paired_comparison import paired_scores
from training.selection import ENSEMBLE, ensemble_predictions


def champion_config(client: Any, champion: Any) -> tuple[TaskConfig, str]:
    """The champion version's task config and selected model, as it was trained.

    The config is its run's ``config/task.yaml`` with the model's parameters as the run logged
    them (params ``model.<name>``: the config's plus any overrides, such as tuned ones, which
    the YAML does not hold); the selected model is the run tag ``selected``, else the param
    ``family``, else the config's model."""
    run = client.get_run(champion.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(champion.run_id, "config/task.yaml", tmp)
        except Exception as err:  # a missing artifact: MlflowException or OSError by store
            raise ConfigError(
                f"the champion's run {champion.run_id} has no readable config/task.yaml ({err})"
            ) from err
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    task = parse_task(raw, source=f"config/task.yaml of run {champion.run_id}")
    params = run.data.params
    logged = {k.removeprefix("model."): v for k, v in params.items() if k.startswith("model.")}
    if logged:
        declared = task.model.params
        effective = {k: _param_value(v, declared.get(k)) for k, v in logged.items()}
        task = task.model_copy(
            update={"model": task.model.model_copy(update={"params": effective})}
        )
    label = run.data.tags.get("selected") or params.get("family") or task.model.label
    return task, label


def _param_value(text: str, declared: Any) -> Any:
    """A logged MLflow param (``str(value)``) back as its value: the declared one when it
    reads the same, else an int, float or bool where the text is one, else the text."""
    if declared is not None and str(declared) == text:
        return declared
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def champion_scores_on(
    data: BacktestData,
    champion_task_config: TaskConfig | dict[str, Any],
    champion_selected_label: str,
    *,
    tables: CityTables | None = None,
) -> pl.DataFrame:
    """The champion's configuration backtested on exactly the folds and origins of ``data``
    (the challenger's), scored per (fold, series) with the challenger's primary metric.

    ``champion_selected_label`` is the model its selection shipped (a label of its model or
    candidates, or ``ensemble``). The champion keeps its own model specs, calibration and
    training window; its backtest folds are the challenger's. When the data-shaping part of its
    config (features, frequency, training stride) differs from the challenger's, its features
    are rebuilt from ``tables`` (required then). A config for another task, target or horizons
    raises ConfigError: such scores would not be comparable."""
    current = data.task
    champion = (
        champion_task_config
        if isinstance(champion_task_config, TaskConfig)
        else parse_task(champion_task_config, source="the champion's config/task.yaml")
    )
    _check_comparable(current, champion)
    champion = champion.model_copy(update={"backtest": current.backtest})
    if _data_key(champion) == _data_key(current):
        champ_data = replace(data, task=champion)
    else:
        if tables is None:
            raise ConfigError(
                "the champion's feature set differs from this task's; its backtest data must "
                "be rebuilt, which needs the city tables"
            )
        built = prepare_backtest(tables, champion)
        champ_data = replace(built, folds=data.folds, eval_origins=data.eval_origins)
    predictions = _champion_predictions(champ_data, champion, champion_selected_label)
    return paired_scores(predictions, current, model=champion_selected_label)


def _check_comparable(current: TaskConfig, champion: TaskConfig) -> None:
    what = None
    if champion.name != current.name:
        what = f"task {champion.name!r}, not {current.name!r}"
    elif champion.target != current.target:
        what = "another target"
    elif champion.horizons != current.horizons:
        what = f"horizons {_listed(champion.horizons)}, not {_listed(current.horizons)}"
    elif current.selection.metric == "crps" and champion.quantiles != current.quantiles:
        what = "other quantiles, so its CRPS is not comparable"
    if what is not None:
        raise ConfigError(f"the champion was trained for {what}")


def _listed(durations: tuple[Duration, ...]) -> str:
    return ", ".join(map(str, durations))


def _data_key(task: TaskConfig) -> str:
    """The parts of a config that shape the prepared backtest data (with folds fixed)."""
    return json.dumps(
        {
            "target": task.target.model_dump(mode="json"),
            "frequency": str(task.frequency),
            "horizons": [str(h) for h in task.horizons],
            "features": task.features.model_dump(mode="json"),
            "origin_stride": str(task.train.origin_stride),
        },
        sort_keys=True,
    )


def _champion_predictions(data: BacktestData, task: TaskConfig, label: str) -> pl.DataFrame:
    specs: dict[str, ModelSpec] = {m.label: m for m in (task.model, *task.candidates)}
    if label != ENSEMBLE and label not in specs:
        raise ConfigError(
            f"the champion's selected model {label!r} is not among its configured models "
            f"({', '.join(specs)})"
        )
    members = list(specs) if label == ENSEMBLE else [label]
    predictions = pl.concat(
        [frame for m in members for frame in backtest_model(data, specs[m], folds=data.folds)]
    )
    if label == ENSEMBLE:
        mixed, _ = ensemble_predictions(predictions, task, members)
        return mixed
    return predictions
