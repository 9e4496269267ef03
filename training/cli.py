"""Command-line group of ``training``: backtest and train."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click
import numpy as np
import polars as pl

from features import (
    CityTables,
    Store,
    TaskConfig,
    busy_machine_hint,
    data_option,
    describe_sparse,
    format_duration,
    load_task,
    out_option,
    reports_errors,
    task_option,
)
from training.ablation import GroupEffect, ablate
from training.backtest import BacktestResult, run_backtest
from training.metrics import WarningSkill
from training.tracking import TrackingSettings


def _tables(data: Path) -> CityTables:
    store = Store(data)
    if not store.exists("observations"):
        raise click.BadParameter(f"{data} holds no observations.parquet", param_hint="--data")
    return CityTables.from_store(store)


def print_backtest(result: BacktestResult) -> None:
    """MAE per horizon for model and baseline, and event skill, as a plain table; first, any
    feature column that came out mostly empty."""
    if (said := describe_sparse(result.sparse)) is not None:
        click.secho(f"warning: {said}\n", fg="yellow")
    preds = result.predictions.filter(pl.col("y").is_not_null())
    table = (
        preds.group_by("horizon", "model")
        .agg((pl.col("y") - pl.col("yhat")).abs().mean().alias("mae"))
        .pivot(on="model", index="horizon", values="mae")
        .sort("horizon")
    )
    model, base = result.chosen, result.baseline
    click.echo(
        f"\nMAE by horizon ({result.task.target.signal}), {len(result.folds)} folds, "
        f"{preds['origin'].n_unique()} origins, {preds['series_id'].n_unique()} series"
    )
    # candidates by name: the pivot's column order follows a parallel group-by, so it varies
    others = sorted(c for c in table.columns if c not in ("horizon", model, base))
    head = "".join(f" {c:>14}" for c in others)
    click.echo(f"{'horizon':>8} {model:>14} {base:>16} {'skill':>7}{head}")
    for r in table.iter_rows(named=True):
        h = format_duration(r["horizon"])  # 1d, not 1440min
        skill = 1 - r[model] / r[base] if r[base] else float("nan")
        rest = "".join(f" {r[c]:>14.3f}" for c in others)
        click.echo(f"{h:>8} {r[model]:>14.3f} {r[base]:>16.3f} {skill:>7.1%}{rest}")
    rest = "".join(
        f" {result.summary['rule_mae' if c == result.rule else f'candidate_{c}_mae']:>14.3f}"
        for c in others
    )
    click.echo(
        f"{'all':>8} {result.summary['model_mae']:>14.3f} "
        f"{result.summary['baseline_mae']:>16.3f} {'':>7}{rest}"
    )
    if result.selection is not None and len(result.selection.mean_scores()) > 1:
        click.echo(f"selected: {result.selection.reason}")
    m, b = (
        {k.removeprefix(tag): v for k, v in result.summary.items() if k.startswith(tag)}
        for tag in ("model_", "baseline_")
    )
    mase = f", MASE {m['mase']:.3f} vs {b['mase']:.3f}" if "mase" in m else ""
    click.echo(
        f"RMSE {m['rmse']:.3f} vs {b['rmse']:.3f}, CRPS {m['crps']:.3f} vs {b['crps']:.3f}{mase}"
    )
    click.echo(
        f"80% interval coverage: model {m['coverage_80']:.1%} (randomised PIT "
        f"{m['pit_coverage_80']:.1%}), baseline {b['coverage_80']:.1%} "
        f"(PIT {b['pit_coverage_80']:.1%})"
    )
    warning = result.task.warning
    if result.event_skill and warning is not None:
        click.echo(
            f"\nEvent skill, target >= {warning.event_threshold:g} (warn when P >= "
            f"{warning.probability:g}):"
        )
        click.echo(
            f"{'':>10} {'POD':>6} {'FAR':>6} {'CSI':>6} {'events':>7} {'ahead':>6} "
            f"{'at onset':>9} {'median lead':>12}"
        )
        for tag in _TAGS:
            s = result.event_skill.get(tag)
            if s is None:
                continue
            click.echo(
                f"{tag:>10} {s.pod:>6.2f} {s.far:>6.2f} {s.csi:>6.2f} {s.events:>7} "
                f"{s.events_ahead:>6} {s.events_at_onset:>9} {_minutes(s.median_lead_time_min):>12}"
            )
    if result.level_skill and warning is not None:
        _print_level_skill(result, warning.kind, warning.probability)
        print_lead_skill(result)
    if result.warning_skill:
        print_warning_skill(result.task.domain, result.warning_skill)


def print_warning_skill(domain: str, skill: Mapping[str, Mapping[str, WarningSkill]]) -> None:
    """The warnings an officer would have received (the service's engine over the forecasts:
    one per area, with hold and quiet), per level: events, how many were warned at their
    onset and how many ahead of it, false alarms, flaps, the median lead, the episodes too
    brief to be events (spiked readings), so none is left out unsaid, and the share of the
    areas' time under warning, so a warning that never closes shows what its POD cost."""
    click.echo(
        f"\nWarnings through the service's engine ({domain}: one per area; an event is an "
        "area's episode at the level):"
    )
    click.echo(
        f"{'':>10} {'level':>7} {'POD':>6} {'FAR':>6} {'CSI':>6} {'events':>7} {'warned':>7} "
        f"{'ahead':>6} {'late':>5} {'warnings':>9} {'false':>6} {'flaps':>6} {'median lead':>12} "
        f"{'brief':>6} {'warned time':>11}"
    )
    for tag, levels in skill.items():
        for level, s in levels.items():
            lead = f"{s.median_lead_min:.0f} min" if s.median_lead_min is not None else "-"
            click.echo(
                f"{tag:>10} {level:>7} {s.pod:>6.2f} {s.far:>6.2f} {s.csi:>6.2f} {s.events:>7} "
                f"{s.detected:>7} {s.ahead:>6} {s.late:>5} {s.warnings:>9} "
                f"{s.false_alarms:>6} {s.flaps:>6} {lead:>12} {s.brief:>6} "
                f"{s.warned_share:>11.1%}"
            )


def _print_level_skill(result: BacktestResult, kind: str, probability: float) -> None:
    """Event skill at every warning level, each target judged by its own thresholds."""
    click.echo(
        f"\nWarning skill by level ({kind} rule, each target's own thresholds; warn when "
        f"P >= {probability:g}):"
    )
    click.echo(
        f"{'':>10} {'level':>7} {'POD':>6} {'FAR':>6} {'CSI':>6} {'events':>7} "
        f"{'ahead':>6} {'at onset':>9} {'median lead':>12}"
    )
    for tag in _TAGS:
        for level, s in result.level_skill.get(tag, {}).items():
            click.echo(
                f"{tag:>10} {level:>7} {s.pod:>6.2f} {s.far:>6.2f} {s.csi:>6.2f} "
                f"{s.events:>7} {s.events_ahead:>6} {s.events_at_onset:>9} "
                f"{_minutes(s.median_lead_time_min):>12}"
            )


_TAGS = ("model", "baseline", "rule")


def _say_if_busy() -> None:
    if (hint := busy_machine_hint()) is not None:
        click.secho(f"note: {hint}", fg="yellow", err=True)


def _minutes(value: float | None) -> str:
    """A lead in minutes; ``-`` only where there is none (a 0-minute lead is a lead of 0)."""
    return "-" if value is None else f"{value:.0f} min"


def print_lead_skill(result: BacktestResult) -> None:
    """Whether warnings come before the water: per level and horizon H, "will it reach the
    level within H" at origins not yet there (POD, FAR, CSI), episodes warned ahead, at onset
    or missed, and the quartiles of the lead, for the model, persistence and the rate-of-rise
    rule; the model's CSI as a multiple of the rule's."""
    if not result.lead_skill:
        return
    warning = result.task.warning
    assert warning is not None
    click.echo(
        f"\nWarned before the water (at origins not yet at the level: does it reach it within "
        f"H; warn when P >= {warning.probability:g}; rule = rate of rise over the last hour):"
    )
    click.echo(
        f"{'level':>7} {'H':>6} {'':>9} {'POD':>6} {'FAR':>6} {'CSI':>6} {'x rule':>7} "
        f"{'events':>7} {'ahead':>6} {'onset':>6} {'missed':>7} {'lead p25/median/p75 (min)':>26}"
    )
    model = result.lead_skill.get("model", {})
    rule = result.lead_skill.get("rule", {})
    for level, skills in model.items():
        for i, s in enumerate(skills):
            against = rule.get(level, [])
            r = against[i] if i < len(against) else None
            for tag in _TAGS:
                row = result.lead_skill.get(tag, {}).get(level, [])
                x = row[i] if i < len(row) else None
                if x is None:
                    continue
                ratio = (
                    f"{x.csi / r.csi:.2f}"
                    if r is not None and r.csi > 0 and np.isfinite(x.csi)
                    else "-"
                )
                q = x.lead_quartiles()
                leads = "-" if q is None else f"{q[0]:.0f}/{q[1]:.0f}/{q[2]:.0f}"
                h = format_duration(s.horizon)
                click.echo(
                    f"{level:>7} {h:>6} {tag:>9} {x.pod:>6.2f} {x.far:>6.2f} {x.csi:>6.2f} "
                    f"{ratio:>7} {x.events:>7} {x.ahead:>6} {x.at_onset:>6} {x.missed:>7} "
                    f"{leads:>26}"
                )
    top = result.reliability.get("model", {})
    if top:
        click.echo(
            "Reliability where warnings live (model's P of the level; share that reached it):"
        )
        for level, bands in top.items():
            parts = []
            for band, name in (("top_decile", "P >= 0.9"), ("warned", "warned")):
                b = bands[band]
                if b.n and b.p_mean is not None and b.observed is not None:
                    parts.append(
                        f"{name}: {b.n} forecasts, P {b.p_mean:.2f}, reached {b.observed:.2f}"
                    )
                else:
                    parts.append(f"{name}: none")
            click.echo(f"{level:>7}  " + "; ".join(parts))


def print_ablation(effects: list[GroupEffect], full_mae: float) -> None:
    """What each covariate group earns: MAE without it against the full model."""
    click.echo(f"\nCovariate groups (full model MAE {full_mae:.4f}); gain = MAE without - MAE with")
    click.echo(
        f"{'group':<18} {'domain':<13} {'cross':>5} {'cols':>4} {'MAE without':>12} "
        f"{'gain':>9} {'gain %':>7}"
    )
    for e in effects:
        click.echo(
            f"{e.group:<18} {e.domain:<13} {'yes' if e.cross_domain else '':>5} "
            f"{len(e.columns):>4} {e.mae_without:>12.4f} {e.gain:>9.4f} "
            f"{e.gain / full_mae:>7.1%}"
        )


@click.command("backtest")
@data_option
@task_option
@out_option("predictions file (.parquet or .csv)")
@click.option(
    "--ablation",
    is_flag=True,
    help="also refit without each covariate group and show what each one earns",
)
@reports_errors
def backtest(data: Path, task_name: str, out: Path, ablation: bool) -> None:
    """Rolling-origin backtest: writes out-of-sample predictions and prints metrics."""
    task = load_task(task_name)
    _say_if_busy()
    result = run_backtest(_tables(data), task)
    out.parent.mkdir(parents=True, exist_ok=True)
    preds = result.predictions
    if out.suffix == ".csv":
        preds.with_columns(pl.col("horizon").dt.total_minutes().alias("horizon")).write_csv(out)
    else:
        preds.write_parquet(out)
    print_backtest(result)
    if ablation:
        print_ablation(ablate(result), result.summary["model_mae"])
    click.echo(f"\npredictions: {out} ({preds.height} rows)")


@click.command("train")
@data_option
@task_option
@click.option(
    "--tune",
    "n_trials",
    type=click.IntRange(min=1),
    default=None,
    help="tune first with Optuna: the study should hold N finished trials (resumes a study)",
)
@click.option(
    "--storage",
    default=None,
    help="Optuna storage URL (default: sqlite under CITYBRAIN_HOME; a PostgreSQL URL lets "
    "workers on several machines share one study)",
)
@click.option("--study", "study_name", default=None, help="study name (default: the task's name)")
@click.option(
    "--worker", is_flag=True, help="join a shared study and run trials only; no final training"
)
@reports_errors
def train(
    data: Path,
    task_name: str,
    n_trials: int | None,
    storage: str | None,
    study_name: str | None,
    worker: bool,
) -> None:
    """(Tune,) backtest, fit on all history, log to MLflow, register; champion only if better."""
    from training.train import TuningRequest, train_task

    task = load_task(task_name)
    if worker:
        if not n_trials:
            raise click.UsageError("--worker needs --tune N")
        _tune_only(data, task, n_trials, storage, study_name)
        return
    _say_if_busy()
    tuning = TuningRequest(n_trials, storage, study_name) if n_trials else None
    outcome = train_task(_tables(data), task, settings=TrackingSettings(), tuning=tuning)
    print_backtest(outcome.backtest)
    click.echo(
        f"\nMLflow run {outcome.run_id}; registered {outcome.model_name} "
        f"v{outcome.version} as {outcome.alias}: {outcome.reason} "
        f"({outcome.seconds:.0f} s)"
    )


def _tune_only(
    data: Path, task: TaskConfig, n_trials: int, storage: str | None, study_name: str | None
) -> None:
    """A worker: trials of a shared study, each a nested run under this worker's own run."""
    import mlflow

    from training.tracking import configure, experiment_id
    from training.tuning import tune

    settings = TrackingSettings()
    client = configure(settings)
    with mlflow.start_run(
        experiment_id=experiment_id(client, settings, task), run_name=f"{task.name}-tune-worker"
    ) as parent:
        outcome = tune(
            _tables(data),
            task,
            n_trials=n_trials,
            storage=storage,
            study_name=study_name,
            settings=settings,
            parent_run_id=parent.info.run_id,
            worker=True,
        )
    click.echo(
        f"study {outcome.study_name} ({outcome.storage}): best {outcome.metric} "
        f"{outcome.best_value:.4f} (trial {outcome.best_trial}) {outcome.best_params}; "
        f"{outcome.n_complete} complete, {outcome.n_pruned} pruned, {outcome.n_failed} failed; "
        f"this worker ran {outcome.n_ran}"
    )
