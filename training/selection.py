"""Which forecaster a task ships: the model, its candidates, or their ensemble, by backtest.

Every family in ``model`` and ``candidates`` is backtested on the same folds and origins. The
selection scores each on the task's primary metric (``selection.metric``) per fold. With
``selection.ensemble`` an inverse-error weighted ensemble of the best ``top`` families is also
scored, its weights for each fold learned only from the folds before it (equal weights on the
first), so the ensemble's backtest is no less out-of-sample than its members'. The family with
the lowest mean metric wins, and the record says why: every score, the margin and the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from features import TaskConfig
from models import blend, quantile_column
from training.metrics import crps_from_quantiles, mae, rmse

ENSEMBLE = "ensemble"


def metric_function(task: TaskConfig) -> Callable[[pl.DataFrame], float]:
    """The task's primary metric on a prediction frame (lower is better)."""
    name = task.selection.metric
    if name == "mae":
        return mae
    if name == "rmse":
        return rmse
    return lambda preds: crps_from_quantiles(preds, task.quantiles)


@dataclass
class Selection:
    chosen: str
    scores: pl.DataFrame  # model, fold, score
    weights: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def mean_scores(self) -> dict[str, float]:
        table = self.scores.group_by("model").agg(pl.col("score").mean()).sort("score")
        return dict(table.iter_rows())


def fold_scores(predictions: pl.DataFrame, task: TaskConfig) -> pl.DataFrame:
    """``model, fold, score``: the primary metric per model and fold."""
    score = metric_function(task)
    rows = [
        {"model": model, "fold": fold, "score": score(part)}
        for (model, fold), part in predictions.group_by("model", "fold", maintain_order=True)
    ]
    return pl.DataFrame(rows, schema={"model": pl.String, "fold": pl.Int64, "score": pl.Float64})


def inverse_error_weights(scores: dict[str, float], top: int) -> dict[str, float]:
    """Weights proportional to 1 / score over the ``top`` best (normalised to sum to 1)."""
    best = sorted(scores, key=lambda m: scores[m])[:top]
    raw = {m: 1.0 / max(scores[m], 1e-9) for m in best}
    total = sum(raw.values())
    return {m: w / total for m, w in raw.items()}


def ensemble_predictions(
    predictions: pl.DataFrame, task: TaskConfig, members: list[str]
) -> tuple[pl.DataFrame, dict[str, float]]:
    """The ensemble's out-of-sample predictions per fold, and its weights over every fold."""
    qcols = [quantile_column(q) for q in task.quantiles]
    scores = fold_scores(predictions.filter(pl.col("model").is_in(members)), task)
    folds = sorted(predictions["fold"].unique().to_list())
    top = task.selection.top
    out = []
    for fold in folds:
        earlier = scores.filter(pl.col("fold") < fold)
        if earlier.is_empty():
            weights = {m: 1.0 / len(members) for m in members}
        else:
            means = dict(earlier.group_by("model").agg(pl.col("score").mean()).iter_rows())
            weights = inverse_error_weights(means, top)
        parts = [
            predictions.filter((pl.col("model") == m) & (pl.col("fold") == fold)).sort(
                "series_id", "origin", "horizon"
            )
            for m in weights
        ]
        mixed = blend(parts, list(weights.values()), qcols)
        out.append(
            mixed.with_columns(
                parts[0]["y"].alias("y"), pl.lit(fold).cast(parts[0]["fold"].dtype).alias("fold")
            )
        )
    overall = dict(scores.group_by("model").agg(pl.col("score").mean()).iter_rows())
    return pl.concat(out).select(predictions.columns), inverse_error_weights(overall, top)


def select(predictions: pl.DataFrame, task: TaskConfig, members: list[str]) -> Selection:
    """Pick the best of ``members`` (and their ensemble, if configured) by mean fold score."""
    scores = fold_scores(predictions.filter(pl.col("model").is_in(members)), task)
    means = dict(scores.group_by("model").agg(pl.col("score").mean()).iter_rows())
    chosen = min(means, key=lambda m: means[m])
    weights: dict[str, float] = {}
    metric = task.selection.metric
    ranking = ", ".join(f"{m} {means[m]:.4g}" for m in sorted(means, key=lambda m: means[m]))
    if len(members) > 1:
        runner = sorted(means, key=lambda m: means[m])[1]
        margin = (means[runner] - means[chosen]) / means[runner] * 100 if means[runner] else 0.0
        reason = (
            f"{chosen} has the lowest mean backtest {metric} over {scores['fold'].n_unique()} "
            f"folds ({ranking}); {margin:.1f} % better than {runner}"
        )
    else:
        reason = f"{chosen} is the only model configured (backtest {metric} {means[chosen]:.4g})"
    return Selection(chosen=chosen, scores=scores, weights=weights, reason=reason)
