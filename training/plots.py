"""Pictures of a backtest, logged to MLflow where people would rather look than read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from features import SIGNALS, format_duration
from training.backtest import BacktestResult
from training.metrics import pit_values


def backtest_chart(result: BacktestResult, path: Path, *, horizons: int = 2) -> Path:
    """Observed target against the model's median and 10-90 % band around the biggest event of
    the wettest series (a sustained rise, not a one-point sensor spike), at the shortest
    horizons; the baseline's median beside it."""
    preds = result.predictions
    smooth = result.observed.sort("series_id", "ts").with_columns(
        pl.col("value")
        .rolling_median(window_size=7, min_samples=3)
        .over("series_id")
        .alias("smooth")
    )
    peak = smooth.sort("smooth", descending=True, nulls_last=True).row(0, named=True)
    top, centre = peak["series_id"], peak["ts"]
    lo, hi = centre - timedelta(hours=36), centre + timedelta(hours=36)
    obs = result.observed.filter(
        (pl.col("series_id") == top) & pl.col("ts").is_between(lo, hi)
    ).sort("ts")
    hs = preds["horizon"].unique().sort().to_list()[:horizons]
    fig, axes = plt.subplots(len(hs), 1, figsize=(12, 3.2 * len(hs)), sharex=True, squeeze=False)
    unit = result.task.target.signal
    for ax, h in zip(axes[:, 0], hs, strict=True):
        ax.plot(obs["ts"].to_list(), obs["value"].to_list(), color="black", lw=1, label="observed")
        for model, colour in (
            (result.chosen, "tab:blue"),
            (result.baseline, "tab:orange"),
        ):
            rows = preds.filter(
                (pl.col("model") == model)
                & (pl.col("series_id") == top)
                & (pl.col("horizon") == h)
                & pl.col("ts").is_between(lo, hi)
            ).sort("ts")
            if rows.is_empty():
                continue
            ax.plot(
                rows["ts"].to_list(),
                rows["yhat"].to_list(),
                color=colour,
                lw=1,
                label=f"{model} median",
            )
            if model == result.chosen:
                ax.fill_between(
                    rows["ts"].to_list(),
                    rows["q10"].to_list(),
                    rows["q90"].to_list(),
                    color=colour,
                    alpha=0.25,
                    label="10-90 %",
                )
        ax.set_title(f"{top}: {format_duration(h)} ahead")
        ax.set_ylabel(unit)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def mae_by_horizon_chart(result: BacktestResult, path: Path) -> Path:
    """MAE per horizon, model against baseline."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for model in result.predictions["model"].unique().sort().to_list():
        rows = (
            result.predictions.filter((pl.col("model") == model) & pl.col("y").is_not_null())
            .group_by("horizon")
            .agg((pl.col("y") - pl.col("yhat")).abs().mean().alias("mae"))
            .sort("horizon")
        )
        hours = [h / timedelta(hours=1) for h in rows["horizon"].to_list()]
        ax.plot(hours, rows["mae"].to_list(), marker="o", label=model)
    ax.set_xlabel("horizon (h)")
    ax.set_ylabel("MAE")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def feature_importance_chart(importance: pl.DataFrame, path: Path, *, top: int = 20) -> Path:
    rows = importance.head(top).reverse()
    fig, ax = plt.subplots(figsize=(7, 0.3 * rows.height + 1.2))
    ax.barh(rows["feature"].to_list(), rows["gain"].to_list(), color="tab:green")
    ax.set_xlabel("gain (median model)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def reliability_chart(result: BacktestResult, path: Path, *, bins: int = 10) -> Path:
    """Forecast exceedance probability against observed frequency, per warning level."""
    task = result.task
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    if task.warning is not None:
        rows = result.predictions.filter(
            (pl.col("model") == result.chosen) & pl.col("y").is_not_null()
        )
        for lv in task.warning.levels:
            graded = rows.filter(pl.col(f"t_{lv.level}").is_not_null())
            p = graded[f"p_{lv.level}"].to_numpy()
            y, at = graded["y"].to_numpy(), graded[f"t_{lv.level}"].to_numpy()
            hit = (y < at if task.warning.direction == "below" else y >= at).astype(float)
            edges = np.linspace(0, 1, bins + 1)
            which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
            xs, ys = [], []
            for b in range(bins):
                mask = which == b
                if mask.sum() >= 20:
                    xs.append(p[mask].mean())
                    ys.append(hit[mask].mean())
            ax.plot(
                xs,
                ys,
                marker="o",
                label=lv.level if lv.threshold is None else f"{lv.level} ({lv.threshold:g})",
                color=lv.level if lv.level != "yellow" else "gold",
            )
    ax.set_xlabel("forecast probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("reliability")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def pit_histogram(result: BacktestResult, path: Path, *, bins: int = 10) -> Path:
    """Histogram of the randomised PIT per model: flat when the quantiles are calibrated, a U
    when intervals are too narrow, a hump when too wide."""
    task = result.task
    sig = SIGNALS.get(task.target.signal)
    lower = sig.low if sig is not None and sig.low == 0.0 else None
    fig, ax = plt.subplots(figsize=(6, 4))
    for model, colour in ((result.chosen, "tab:blue"), (result.baseline, "tab:orange")):
        rows = result.predictions.filter(pl.col("model") == model)
        u = pit_values(
            rows,
            task.quantiles,
            lower_bound=lower,
            seed=task.train.seed,
            discrete=bool(sig is not None and sig.discrete),
        )
        ax.hist(
            u,
            bins=bins,
            range=(0, 1),
            density=True,
            histtype="step",
            lw=2,
            color=colour,
            label=model,
        )
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.set_xlabel("PIT")
    ax.set_ylabel("density")
    ax.set_title(f"{task.name}: probability integral transform")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def residuals_by_hour(result: BacktestResult, path: Path) -> Path:
    """Mean and spread of the model's errors by local hour of the target time: a daily cycle the
    model misses shows up as a wave."""
    tz = result.task.features.timezone
    rows = (
        result.predictions.filter((pl.col("model") == result.chosen) & pl.col("y").is_not_null())
        .with_columns(
            (pl.col("y") - pl.col("yhat")).alias("resid"),
            pl.col("ts").dt.convert_time_zone(tz).dt.hour().alias("hour"),
        )
        .group_by("hour")
        .agg(
            pl.col("resid").mean().alias("mean"),
            pl.col("resid").quantile(0.1).alias("p10"),
            pl.col("resid").quantile(0.9).alias("p90"),
        )
        .sort("hour")
    )
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.fill_between(rows["hour"], rows["p10"], rows["p90"], alpha=0.25, label="10-90 %")
    ax.plot(rows["hour"], rows["mean"], marker="o", label="mean residual")
    ax.axhline(0.0, color="grey", lw=1)
    ax.set_xlabel(f"hour of the target time ({tz})")
    ax.set_ylabel("observed - forecast")
    ax.set_title(f"{result.task.name}: residuals by hour ({result.chosen})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
