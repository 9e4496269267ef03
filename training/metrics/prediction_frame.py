"""The prediction frame every metric reads, and which of its rows are scored.

A *prediction frame* is a Polars frame with ``series_id, origin, ts, horizon, model, yhat``, one
column per quantile level named by :func:`models.quantile_column` (``0.1 -> "q10"``), and the
observed target ``y``. This module owns the row rules that every metric family applies, so that
two callers never score the same rows differently: a row is scored when ``y`` is observed
(neither null nor NaN, and not ``null_value`` when ``masked``); a null or NaN forecast on a
scored row raises :class:`ValueError` (a model failure, not a missing observation); and a
frame with nothing to score reduces to ``nan``, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def _observed(
    preds: pl.DataFrame, *, masked: bool = False, null_value: float = 0.0
) -> pl.DataFrame:
    """Rows whose target is observed (``y`` not null, not NaN; and ``y != null_value`` when
    ``masked``)."""
    y = pl.col("y").cast(pl.Float64)
    keep = y.is_not_null() & y.is_not_nan()
    if masked:
        keep = keep & (y != null_value)
    return preds.filter(keep)


def _scored(
    preds: pl.DataFrame,
    columns: Sequence[str],
    *,
    masked: bool = False,
    null_value: float = 0.0,
) -> pl.DataFrame:
    """Observed rows, after checking that every forecast column in ``columns`` is present and
    neither null nor NaN on them."""
    missing = [c for c in ("y", *columns) if c not in preds.columns]
    if missing:
        raise ValueError(f"prediction frame lacks column(s) {missing}")
    rows = _observed(preds, masked=masked, null_value=null_value)
    if rows.is_empty() or not columns:
        return rows
    bad = rows.select(
        (pl.col(c).cast(pl.Float64).is_null() | pl.col(c).cast(pl.Float64).is_nan()).sum().alias(c)
        for c in dict.fromkeys(columns)
    ).row(0, named=True)
    failed = {c: n for c, n in bad.items() if n}
    if failed:
        raise ValueError(
            f"forecast missing (null or NaN) on rows with an observed target: {failed}; "
            "a missing forecast is a model failure, not a missing observation"
        )
    return rows


def _scalar(rows: pl.DataFrame, expr: pl.Expr) -> float:
    if rows.is_empty():
        return float("nan")
    value = rows.select(expr).item()
    return float("nan") if value is None else float(value)
