"""The dashboard's poll: current forecasts, exceedance probabilities and levels."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Query

from alerts import Ledger, Level
from features import NotFoundError
from serving.deps import DEFAULT_DOMAIN, DomainQuery, LedgerDep, QueriedScorerDep, ScorerDep
from serving.schemas.errors import error_responses
from serving.schemas.risk import ForecastStep, RecentValue, RiskDetailOut, RiskItem, RiskOut
from serving.scoring import TaskScorer

router = APIRouter(prefix="/v1", tags=["risk"], responses=error_responses(404))


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _item(scorer: TaskScorer, row: dict[str, Any], level: Level, path: pl.DataFrame) -> RiskItem:
    probs = {k[2:]: round(float(v), 4) for k, v in row.items() if k.startswith("p_")}
    return RiskItem(
        series_id=row["series_id"],
        area_id=row["area_id"],
        label=scorer.label(row["series_id"]),
        observed=row["observed"],
        observed_ts=_iso(row["observed_ts"]),
        level=level.colour,
        level_zh=level.name_zh if level else None,
        probabilities=probs,
        peak_value=row["peak_value"],
        peak_ts=_iso(row["peak_ts"]),
        forecast=[
            ForecastStep(
                ts=_iso(r["ts"]),
                horizon_min=int(r["horizon"] / timedelta(minutes=1)),
                **{
                    k: round(float(v), 3)
                    for k, v in r.items()
                    if k == "yhat" or (k.startswith("q") and k[1:2].isdigit())
                },
            )
            for r in path.sort("horizon").iter_rows(named=True)
        ],
    )


def _current_levels(ledger: Ledger, domain: str) -> dict[str, Level]:
    return ledger.target_levels(domain)


@router.get("/risk", response_model_exclude_unset=True)
def risk(
    scorer: QueriedScorerDep,
    ledger: LedgerDep,
    domain: DomainQuery = DEFAULT_DOMAIN,
    area_id: Annotated[str | None, Query(description="only targets in this area")] = None,
) -> RiskOut:
    """Every target of the domain with its forecast path, most severe and most likely first."""
    snap = scorer.snapshot
    if snap is None:
        return RiskOut(domain=domain, origin=None, model_version=scorer.version, items=[])
    summary = snap.summary
    if area_id is not None:
        summary = summary.filter(pl.col("area_id") == area_id)
    levels = _current_levels(ledger, domain)
    items = [
        _item(
            scorer,
            r,
            levels.get(r["series_id"], Level.NONE),
            snap.forecasts.filter(pl.col("series_id") == r["series_id"]),
        )
        for r in summary.sort("series_id").iter_rows(named=True)
    ]
    items.sort(
        key=lambda it: (-Level.parse(it.level), -max(it.probabilities.values(), default=0.0))
    )
    return RiskOut(
        domain=domain,
        task=scorer.task.name,
        origin=_iso(snap.origin),
        scored_at=_iso(snap.scored_at),
        model_version=scorer.version,
        unit=scorer.unit or None,
        items=items,
    )


@router.get("/risk/{domain}/{series_id}")
def risk_one(domain: str, series_id: str, scorer: ScorerDep, ledger: LedgerDep) -> RiskDetailOut:
    """One target's forecast path with quantiles, and its last six hours of observations."""
    snap = scorer.snapshot
    if snap is None or series_id not in snap.summary["series_id"]:
        raise NotFoundError(f"no forecast for series {series_id!r} in domain {domain!r}")
    row = snap.summary.filter(pl.col("series_id") == series_id).row(0, named=True)
    level = _current_levels(ledger, domain).get(series_id, Level.NONE)
    item = _item(scorer, row, level, snap.forecasts.filter(pl.col("series_id") == series_id))
    recent = scorer.tables.observations.filter(
        (pl.col("series_id") == series_id) & (pl.col("ts") > snap.origin - timedelta(hours=6))
    ).sort("ts")
    return RiskDetailOut(
        **dict(item),
        recent=[
            RecentValue(ts=_iso(r["ts"]), value=r["value"]) for r in recent.iter_rows(named=True)
        ],
        origin=_iso(snap.origin),
    )
