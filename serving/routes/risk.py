"""The dashboard's poll: current forecasts, exceedance probabilities and levels.

``GET /v1/risk`` answers the bytes :class:`serving.views.RiskViews` serialised at the last
rescoring, with an ETag (``If-None-Match`` gets 304) and ``Cache-Control: no-cache`` (a cache
may keep it but must ask again). It runs on the event loop and never waits for scoring. The
common, authorised poll is answered before routing by :class:`serving.edge.PollCache` with the
same bytes and headers; this route is the contract, and answers the rest (errors included).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Header, Query, Request, Response

from alerts import Level
from features import NotFoundError
from serving.auth import Reader
from serving.deps import DEFAULT_DOMAIN, DomainQuery, LedgerDep, ScorerDep
from serving.schemas import Colour
from serving.schemas.errors import error_responses
from serving.schemas.risk import RecentValue, RiskDetailOut, RiskOut
from serving.views import RiskViews, etag_matches, forecast_paths, risk_item

router = APIRouter(prefix="/v1", tags=["risk"], responses=error_responses(401, 403, 404, 429))

_CACHE = "private, no-cache"


@router.get(
    "/risk",
    response_model=RiskOut,
    response_model_exclude_unset=True,
    responses={304: {"description": "Not modified: the ETag given in If-None-Match is current."}},
)
async def risk(
    key: Reader,
    request: Request,
    domain: DomainQuery = DEFAULT_DOMAIN,
    area_id: Annotated[str | None, Query(description="only targets in this area")] = None,
    level: Annotated[Colour | None, Query(description="only targets at this level")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Every target of the domain with its forecast path, most severe and most likely first."""
    views: RiskViews = request.app.state.views
    view = views.get(domain, area_id, level)
    headers = {"ETag": view.etag, "Cache-Control": _CACHE}
    if etag_matches(if_none_match, view.etag):
        return Response(status_code=304, headers=headers)
    return Response(view.body, media_type="application/json", headers=headers)


@router.get("/risk/{domain}/{series_id}")
def risk_one(
    key: Reader,
    domain: str,
    series_id: str,
    scorer: ScorerDep,
    ledger: LedgerDep,
) -> RiskDetailOut:
    """One target's forecast path with its quantiles, its thresholds per level, and its last
    six hours of observations."""
    snap = scorer.snapshot
    if snap is None or series_id not in snap.summary["series_id"]:
        raise NotFoundError(f"no forecast for series {series_id[:60]!r} in domain {domain!r}")
    row = snap.summary.filter(pl.col("series_id") == series_id).row(0, named=True)
    level = ledger.target_levels(domain).get(series_id, Level.NONE)
    path = forecast_paths(snap.forecasts.filter(pl.col("series_id") == series_id))[series_id]
    item = risk_item(scorer, row, level, path)
    recent = scorer.tables.observations.filter(
        (pl.col("series_id") == series_id) & (pl.col("ts") > snap.origin - timedelta(hours=6))
    ).sort("ts")
    rule = scorer.rule_for(row)
    return RiskDetailOut(
        **dict(item),
        recent=[
            RecentValue(ts=r["ts"].isoformat(), value=r["value"])
            for r in recent.iter_rows(named=True)
        ],
        origin=snap.origin.isoformat(),
        thresholds=({lv.colour: value for lv, value in rule.thresholds.items()} if rule else {}),
        direction=rule.direction if rule else None,
    )
