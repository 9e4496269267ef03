"""The dashboard's poll: current forecasts, exceedance probabilities and levels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
from fastapi import APIRouter, Query

from alerts import Level
from features import NotFoundError
from serving.deps import RuntimeDep
from serving.scoring import TaskScorer

router = APIRouter(prefix="/v1", tags=["risk"])


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _item(scorer: TaskScorer, row: dict[str, Any], level: Level, path: pl.DataFrame) -> dict:
    probs = {k[2:]: round(float(v), 4) for k, v in row.items() if k.startswith("p_")}
    return {
        "series_id": row["series_id"],
        "area_id": row["area_id"],
        "label": scorer.label(row["series_id"]),
        "observed": row["observed"],
        "observed_ts": _iso(row["observed_ts"]),
        "level": level.colour,
        "level_zh": level.name_zh if level else None,
        "probabilities": probs,
        "peak_value": row["peak_value"],
        "peak_ts": _iso(row["peak_ts"]),
        "forecast": [
            {
                "ts": _iso(r["ts"]),
                "horizon_min": int(r["horizon"] / timedelta(minutes=1)),
                **{
                    k: round(float(v), 3)
                    for k, v in r.items()
                    if k == "yhat" or (k.startswith("q") and k[1:2].isdigit())
                },
            }
            for r in path.sort("horizon").iter_rows(named=True)
        ],
    }


def _current_levels(runtime: RuntimeDep, domain: str) -> dict[str, Level]:
    return {
        w.series_id: w.level for w in runtime.ledger.list(domain=domain) if w.status != "closed"
    }


@router.get("/risk")
def risk(
    runtime: RuntimeDep,
    domain: str = Query("waterlogging", description="waterlogging, hotline or traffic"),
    area_id: str | None = Query(None, description="only targets in this area"),
) -> dict[str, Any]:
    scorer = runtime.scorer(domain)
    snap = scorer.snapshot
    if snap is None:
        return {"domain": domain, "origin": None, "model_version": scorer.version, "items": []}
    summary = snap.summary
    if area_id is not None:
        summary = summary.filter(pl.col("area_id") == area_id)
    levels = _current_levels(runtime, domain)
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
        key=lambda it: (-Level.parse(it["level"]), -max(it["probabilities"].values(), default=0.0))
    )
    return {
        "domain": domain,
        "task": scorer.task.name,
        "origin": _iso(snap.origin),
        "scored_at": _iso(snap.scored_at),
        "model_version": scorer.version,
        "unit": scorer.rule.unit if scorer.rule else None,
        "items": items,
    }


@router.get("/risk/{domain}/{series_id}")
def risk_one(runtime: RuntimeDep, domain: str, series_id: str) -> dict[str, Any]:
    scorer = runtime.scorer(domain)
    snap = scorer.snapshot
    if snap is None or series_id not in snap.summary["series_id"]:
        raise NotFoundError(f"no forecast for series {series_id!r} in domain {domain!r}")
    row = snap.summary.filter(pl.col("series_id") == series_id).row(0, named=True)
    level = _current_levels(runtime, domain).get(series_id, Level.NONE)
    item = _item(scorer, row, level, snap.forecasts.filter(pl.col("series_id") == series_id))
    recent = scorer.tables.observations.filter(
        (pl.col("series_id") == series_id) & (pl.col("ts") > snap.origin - timedelta(hours=6))
    ).sort("ts")
    item["recent"] = [
        {"ts": _iso(r["ts"]), "value": r["value"]} for r in recent.iter_rows(named=True)
    ]
    item["origin"] = _iso(snap.origin)
    return item
