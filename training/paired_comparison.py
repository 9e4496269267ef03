"""The statistical half of promotion: a challenger against the champion, pair by pair.

Both models are scored per (fold, series) pair with the task's primary metric, so that the
comparison is paired: the challenger is promoted iff its mean is lower than the champion's by
at least ``promotion.margin`` (a fraction of the champion's mean) and a one-sided Wilcoxon
signed-rank test on the paired differences (challenger - champion, zero differences split
between the ranks) rejects "no better" at ``promotion.alpha``. With fewer than
:data:`MIN_PAIRS` pairs no test is possible (with 5 pairs the smallest one-sided p-value is
1/32, so one lucky pair decides): the margin alone decides and the reason says so. A first
model (no champion yet) is promoted as such.

This is pure: frames of scores in, a :class:`Verdict` out; the registry is
:mod:`training.promotion`'s business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from features import PromotionSpec, TaskConfig
from training.selection import metric_function

MIN_PAIRS = 6
"""Fewest (fold, series) pairs for the paired test; below it the margin alone decides."""

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

    def metrics(self) -> dict[str, float]:
        """The numbers as MLflow metrics (``promotion_*``), those that exist."""
        out = {"promotion_pairs": float(self.pairs)}
        for key in ("challenger_mean", "champion_mean", "improvement", "p_value"):
            value = getattr(self, key)
            if value is not None and math.isfinite(value):
                out[f"promotion_{key}"] = float(value)
        return out


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
