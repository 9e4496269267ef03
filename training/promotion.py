"""Guarded promotion: a new version replaces the champion only on paired evidence.

Every trained model is registered. It becomes ``champion`` only if it beats the current
champion on the task's primary metric (``selection.metric``) over the same backtest folds:

* both are scored per (fold, series) pair: the challenger from its own backtest, the champion by
  re-backtesting its logged configuration (``config/task.yaml`` of its run, the model its
  selection picked) on exactly the challenger's folds and origins, with current code and data;
* the challenger is promoted iff its mean is lower than the champion's by at least
  ``promotion.margin`` (a fraction of the champion's mean) and a one-sided Wilcoxon signed-rank
  test on the paired differences (challenger - champion, zero differences split between the
  ranks) rejects "no better" at ``promotion.alpha``;
* with fewer than :data:`MIN_PAIRS` pairs no test is possible (with 5 pairs the smallest
  one-sided p-value is 1/32, so one lucky pair decides): the margin alone decides and the
  reason says so;
* a first model (no champion yet) is promoted as such.

The champion's configuration must be for the same task name, target and horizons (and
quantiles when the metric is CRPS); otherwise the scores would not measure the same thing and
the new version stays challenger, with the reason, for a person to decide (``citybrain
promote``). When the champion's feature set differs from the challenger's (features,
frequency or training stride; the config's ``task_hash`` tells configs apart, these parts tell
whether the data must be rebuilt), its backtest data are rebuilt from the tables with its own
config and the challenger's folds; otherwise the challenger's prepared data are reused with
the champion's config (its model, candidates, calibration and training window).

People override the decision with :func:`promote_version` and :func:`rollback`; each such
action is tagged on the version and appended to the audit trail (an MLflow run of kind
``registry-action``, see ``training.tracking.record_registry_action``).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from features.errors import ConfigError, NotFoundError
from features.tables import CityTables
from features.tasks import ModelSpec, PromotionSpec, TaskConfig, parse_task
from training.backtest import BacktestData, backtest_model, prepare_backtest
from training.selection import ENSEMBLE, ensemble_predictions, metric_function
from training.tracking import (
    CHALLENGER,
    CHAMPION,
    PROMOTED_BY_TRAINING,
    TrackingSettings,
    assign_alias,
    current_champion,
    model_version,
    record_registry_action,
    utc_now,
)

log = logging.getLogger(__name__)

MIN_PAIRS = 6
"""Fewest (fold, series) pairs for the paired test; below it the margin alone decides."""

PAIRED_SCORES_ARTIFACT = "backtest/paired_scores.parquet"
CHAMPION_SCORES_ARTIFACT = "backtest/champion_paired_scores.parquet"
_SCHEMA = {"fold": pl.Int64, "series_id": pl.String, "score": pl.Float64}


@dataclass(frozen=True)
class Verdict:
    """Whether a challenger replaces the champion, why, and the numbers behind it."""

    promote: bool
    reason: str
    challenger_mean: float | None = None
    champion_mean: float | None = None
    improvement: float | None = None  # (champion - challenger) / champion: 0.05 = 5 % better
    p_value: float | None = None  # None: no test (no champion, or too few pairs)
    pairs: int = 0

    @property
    def tested(self) -> bool:
        return self.p_value is not None

    def metrics(self) -> dict[str, float]:
        """The numbers as MLflow metrics (``promotion_*``), those that exist."""
        out = {"promotion_pairs": float(self.pairs)}
        for key in ("challenger_mean", "champion_mean", "improvement", "p_value"):
            value = getattr(self, key)
            if value is not None and math.isfinite(value):
                out[f"promotion_{key}"] = float(value)
        return out


# --------------------------------------------------------------------------------------------
# scores and the paired comparison


def paired_scores(
    predictions: pl.DataFrame, task: TaskConfig, *, model: str | None = None
) -> pl.DataFrame:
    """``fold, series_id, score``: the task's primary metric per fold and series of one model's
    backtest predictions (``model`` picks it from a frame holding several)."""
    if model is not None:
        predictions = predictions.filter(pl.col("model") == model)
    elif "model" in predictions.columns and predictions["model"].n_unique() > 1:
        raise ValueError("predictions hold several models: pass model= to pick one")
    score = metric_function(task)
    rows = [
        {"fold": int(fold), "series_id": str(series), "score": float(score(part))}
        for (fold, series), part in predictions.group_by("fold", "series_id")
    ]
    return pl.DataFrame(rows, schema=_SCHEMA).sort("fold", "series_id")


def compare(
    challenger: pl.DataFrame,
    champion: pl.DataFrame | None,
    spec: PromotionSpec,
    *,
    metric: str = "score",
    champion_label: str = "the champion",
) -> Verdict:
    """Judge a challenger against the champion on their (fold, series) pairs (lower is better).

    Promote iff the mean improvement is at least ``spec.margin`` of the champion's mean (and
    above zero) and the one-sided Wilcoxon signed-rank test on challenger - champion gives
    p < ``spec.alpha``; pairs where either score is missing or not finite are left out. With
    fewer than :data:`MIN_PAIRS` pairs the margin alone decides. No champion: a first model."""
    if champion is None:
        mean = _mean(challenger["score"]) if challenger.height else None
        return Verdict(True, "first model of this task: no champion to compare with", mean)
    joined = (
        challenger.select("fold", "series_id", pl.col("score").alias("a"))
        .join(
            champion.select("fold", "series_id", pl.col("score").alias("b")),
            on=["fold", "series_id"],
            how="inner",
        )
        .filter(pl.col("a").is_finite() & pl.col("b").is_finite())
    )
    n = joined.height
    if n == 0:
        return Verdict(
            False,
            f"not promoted: no (fold, series) pair scored by both this model and "
            f"{champion_label}, so they cannot be compared",
        )
    a, b = joined["a"].to_numpy(), joined["b"].to_numpy()
    mean_a, mean_b = float(a.mean()), float(b.mean())
    gain = mean_b - mean_a
    relative = gain / mean_b if mean_b > 0 else 0.0
    beats_margin = gain > 0 and gain >= spec.margin * mean_b
    p_value = _wilcoxon_less(a - b) if n >= MIN_PAIRS else None
    significant = p_value is None or p_value < spec.alpha
    promote = beats_margin and significant
    if promote:
        head = "promoted"
    elif gain <= 0:
        head = "not promoted, no improvement"
    elif not beats_margin:
        head = "not promoted, the improvement is below the margin"
    else:
        head = "not promoted, the improvement is not significant"
    if relative > 0:
        change = f"{relative:.1%} better"
    elif relative < 0:
        change = f"{-relative:.1%} worse"
    else:
        change = "no better"
    if p_value is None:
        test = (
            f"only {n} pairs, too few for a paired test ({MIN_PAIRS} needed), so the margin "
            "alone decides"
        )
    else:
        test = f"one-sided Wilcoxon signed-rank p = {p_value:.3g} (alpha {spec.alpha:g})"
    reason = (
        f"{head}: mean {metric} {mean_a:.4g} against {mean_b:.4g} for {champion_label} on the "
        f"same {n} (fold, series) pairs, {change} (margin {spec.margin * 100:g} %); {test}"
    )
    return Verdict(promote, reason, mean_a, mean_b, relative, p_value, n)


def _mean(values: pl.Series) -> float | None:
    finite = values.filter(values.is_finite())
    return float(finite.mean()) if finite.len() else None  # type: ignore[arg-type]


def _wilcoxon_less(diff: np.ndarray) -> float:
    """One-sided p-value that the differences are centred below zero (1.0 when all are 0)."""
    from scipy.stats import wilcoxon

    if not np.any(diff != 0):
        return 1.0
    return float(wilcoxon(diff, alternative="less", zero_method="zsplit").pvalue)


# --------------------------------------------------------------------------------------------
# the champion's configuration, re-backtested on the challenger's folds


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
        what = f"horizons {', '.join(champion.horizons)}, not {', '.join(current.horizons)}"
    elif current.selection.metric == "crps" and champion.quantiles != current.quantiles:
        what = "other quantiles, so its CRPS is not comparable"
    if what is not None:
        raise ConfigError(f"the champion was trained for {what}")


def _data_key(task: TaskConfig) -> str:
    """The parts of a config that shape the prepared backtest data (with folds fixed)."""
    return json.dumps(
        {
            "target": task.target.model_dump(mode="json"),
            "frequency": task.frequency,
            "horizons": list(task.horizons),
            "features": task.features.model_dump(mode="json"),
            "origin_stride": task.train.origin_stride,
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


# --------------------------------------------------------------------------------------------
# the decision after training, recorded in the registry


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


# --------------------------------------------------------------------------------------------
# people's overrides


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
