"""Feature columns that come out mostly empty, said out loud.

A covariate read at a coarser cadence than the task's grid (hourly rain on a 30-minute grid
fails the window sums' 80 %-present rule in every window), or a link that finds no series, can
leave a feature column null on most rows. Nothing fails: the model simply trains without it.
:func:`sparse_features` finds such columns so that ``features``, ``backtest`` and ``train``
report them (``train`` also logs every column's null share to MLflow) instead of swallowing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

SPARSE_SHARE = 0.5
"""A feature column null on more than this share of rows is reported as mostly empty."""


@dataclass(frozen=True)
class SparseFeature:
    """A feature column and the share of rows on which it is null."""

    column: str
    null_share: float


def feature_null_shares(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, float]:
    """Each of ``columns``' share of null (or NaN) rows in ``frame`` (0.0 for an empty frame)."""
    present = [c for c in columns if c in frame.columns]
    if frame.height == 0 or not present:
        return dict.fromkeys(present, 0.0)
    empty = [
        (pl.col(c).is_null() | pl.col(c).is_nan()).mean().alias(c)
        if frame.schema[c].is_float()
        else pl.col(c).is_null().mean().alias(c)
        for c in present
    ]
    row = frame.select(empty).row(0, named=True)
    return {c: float(row[c]) for c in present}


def sparse_features(
    frame: pl.DataFrame, columns: Sequence[str], threshold: float = SPARSE_SHARE
) -> list[SparseFeature]:
    """The columns null on more than ``threshold`` of the rows, the emptiest first."""
    shares = feature_null_shares(frame, columns)
    found = [SparseFeature(c, s) for c, s in shares.items() if s > threshold]
    return sorted(found, key=lambda f: (-f.null_share, f.column))


def describe_sparse(found: Sequence[SparseFeature]) -> str | None:
    """One line naming the mostly empty columns and what to check; None when there are none."""
    if not found:
        return None
    listed = ", ".join(f"{f.column} {f.null_share:.0%} null" for f in found)
    return (
        f"{len(found)} feature column(s) mostly empty (the model learns little or nothing from "
        f"them): {listed}. Check each covariate's cadence against the task's frequency, its "
        "link and fill_limit."
    )
