"""Honest selection among our bench models: nothing is chosen on the folds it is scored on.

After every one of ours (the config's ``model`` and its ``candidates``, each its own backtest)
has forecast every fold, two more columns are built from their predictions alone:

- ``ours: ensemble``: ``training.selection.ensemble_predictions``, the inverse-error ensemble of
  the ``selection.top`` best members whose weights for each fold come only from the folds before
  it (equal weights on the first);
- ``ours: selected``: a walk-forward selection, what the product would have shipped at each
  fold's start: on fold k the member (or the ensemble) with the lowest mean primary metric
  (``selection.metric``) over the folds before k; on the first fold the config's ``model``.

Both read only the members' rows that every member forecast (finite), so that the blend is
aligned and every member is scored on the same rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

from features import TaskConfig
from training import ensemble_predictions, fold_scores

KEYS = ["series_id", "origin", "horizon"]
ENSEMBLE = "ours: ensemble"
SELECTED = "ours: selected"


@dataclass
class Honest:
    """The new rows (ensemble and selected), the pick per fold and the ensemble's weights over
    every fold (what it would ship after the last one; shown, never used to score)."""

    rows: pl.DataFrame
    chosen: dict[int, str] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    scores: pl.DataFrame = field(default_factory=pl.DataFrame)


def aligned(preds: pl.DataFrame, members: list[str]) -> pl.DataFrame:
    """The members' rows on the keys that every member forecast with a finite ``yhat``."""
    keys = None
    for m in members:
        have = preds.filter((pl.col("model") == m) & pl.col("yhat").is_finite()).select(KEYS)
        keys = have if keys is None else keys.join(have, on=KEYS, how="semi")
    return preds.filter(pl.col("model").is_in(members)).join(keys, on=KEYS, how="semi")


def walk_forward(scores: pl.DataFrame, first: str) -> dict[int, str]:
    """``fold -> model``: on each fold the model with the lowest mean score over the folds
    before it (a model counts only if it was scored on every one of them); ``first`` on the
    first fold, and wherever no model has a finite score on every earlier fold. Ties go to
    ``first``, then by name."""
    folds = sorted(scores["fold"].unique().to_list())
    chosen: dict[int, str] = {}
    for k in folds:
        earlier = scores.filter(pl.col("fold") < k)
        n = earlier["fold"].n_unique()
        means = {
            m: s
            for m, s, c in earlier.group_by("model")
            .agg(pl.col("score").mean(), pl.col("fold").n_unique().alias("n"))
            .iter_rows()
            if c == n and s is not None and math.isfinite(s)
        }
        chosen[k] = min(means, key=lambda m: (means[m], m != first, m)) if n and means else first
    return chosen


def honest_ours(preds: pl.DataFrame, task: TaskConfig, members: list[str], first: str) -> Honest:
    """``ours: ensemble`` and ``ours: selected`` from ``members``' predictions (labels as in
    ``preds``; ``first`` is the config's model). ``preds`` carries ``fold``, ``y``, ``yhat``
    and the task's quantile columns."""
    rows = aligned(preds, members)
    mixed, weights = ensemble_predictions(rows, task, members)
    mixed = mixed.with_columns(pl.lit(ENSEMBLE).alias("model"))
    pool = pl.concat([rows, mixed], how="vertical_relaxed")
    scores = fold_scores(pool, task)
    chosen = walk_forward(scores, first)
    picked = pl.concat(
        [pool.filter((pl.col("model") == m) & (pl.col("fold") == k)) for k, m in chosen.items()],
        how="vertical_relaxed",
    ).with_columns(pl.lit(SELECTED).alias("model"))
    return Honest(pl.concat([picked, mixed], how="vertical_relaxed"), chosen, weights, scores)
