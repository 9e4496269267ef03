"""Known-ahead covariates: weather forecasts as they were issued at or before each origin.

Vintage-correct by construction: each origin takes the latest issue with ``issued_at <= origin``
and never a later one, so a backtest sees exactly what the duty room saw at the time.
"""

from __future__ import annotations

import polars as pl

from features.tasks import ForecastCovariate


def forecast_feature(
    rows: pl.DataFrame, forecasts: pl.DataFrame, cov: ForecastCovariate
) -> pl.Series:
    """One feature column for ``rows`` (``area_key, origin, ts``, in order).

    ``sum`` adds the forecast values valid in ``(origin, ts]``; ``mean`` divides that by the
    hours; ``at`` is the latest forecast value valid at or before ``ts``.
    """
    fc = (
        forecasts.filter(pl.col("variable") == cov.variable)
        .select(pl.col("area_id").alias("area_key"), "issued_at", "valid_at", "value")
        .sort("area_key", "issued_at", "valid_at")
        .with_columns(pl.col("value").cum_sum().over("area_key", "issued_at").alias("cum"))
    )
    issues = fc.select("area_key", "issued_at").unique().sort("issued_at")
    keyed = rows.with_row_index("_row").sort("origin")
    keyed = keyed.join_asof(
        issues,
        left_on="origin",
        right_on="issued_at",
        by="area_key",
        strategy="backward",
        check_sortedness=False,
    )
    at_cols = fc.select("area_key", "issued_at", "valid_at", "value", "cum").sort("valid_at")

    def cum_at(column: str, name: str) -> pl.DataFrame:
        left = keyed.select("_row", "area_key", "issued_at", pl.col(column).alias("_t")).sort("_t")
        out = left.join_asof(
            at_cols,
            left_on="_t",
            right_on="valid_at",
            by=["area_key", "issued_at"],
            strategy="backward",
            check_sortedness=False,
        )
        return out.select(
            "_row", pl.col("cum").fill_null(0.0).alias(name), pl.col("value").alias(f"{name}_value")
        )

    end = cum_at("ts", "c_end")
    joined = keyed.select("_row", "origin", "ts", "issued_at").join(end, on="_row")
    if cov.aggregate == "at":
        result = pl.when(pl.col("issued_at").is_not_null()).then(pl.col("c_end_value"))
    else:
        start = cum_at("origin", "c_start")
        joined = joined.join(start, on="_row")
        total = pl.col("c_end") - pl.col("c_start")
        if cov.aggregate == "mean":
            hours = (pl.col("ts") - pl.col("origin")).dt.total_seconds() / 3600.0
            total = total / hours
        result = pl.when(pl.col("issued_at").is_not_null()).then(total)
    return joined.sort("_row").select(result.cast(pl.Float64).alias(cov.name)).to_series()
