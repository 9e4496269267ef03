"""The city's reference data for maps (``read``): its areas' outlines as GeoJSON, where each
series stands, and the levels' colours.

The dashboard draws its map from these, so an integrator's map can draw the same one; the
levels' colours are those of :class:`alerts.Level`, which every message uses too, so a screen
never keeps a palette of its own.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Query

from alerts import Level
from features import DataError
from serving.auth import Reader
from serving.deps import ScorersDep, StoreDep
from serving.schemas.errors import error_responses
from serving.schemas.places import (
    AreaFeature,
    AreaProperties,
    AreasOut,
    LevelOut,
    LevelsOut,
    SeriesListOut,
    SeriesOut,
)

router = APIRouter(prefix="/v1", tags=["places"], responses=error_responses(401, 403, 429))


def _geometry(text: str | None, area_id: str) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        raise DataError(
            f"the areas table's geometry of {area_id!r} is not GeoJSON; fix it in the store",
            column="geometry",
        ) from None
    return found if isinstance(found, dict) else None


@router.get("/areas", responses=error_responses(422))
def areas(key: Reader, store: StoreDep) -> AreasOut:
    """Every area with its outline, as a GeoJSON FeatureCollection: the city (no parent) first,
    then its districts by id; names in English and Chinese."""
    table = store.read("areas")
    order = table.with_columns(pl.col("parent_id").is_not_null().alias("_child"))
    features = [
        AreaFeature(
            id=row["area_id"],
            properties=AreaProperties(
                area_id=row["area_id"],
                name=row.get("name") or row["area_id"],
                name_zh=row.get("name_zh"),
                parent_id=row.get("parent_id"),
            ),
            geometry=_geometry(row.get("geometry"), row["area_id"]),
        )
        for row in order.sort("_child", "area_id").iter_rows(named=True)
    ]
    return AreasOut(features=features)


@router.get("/series")
def series(
    key: Reader,
    scorers: ScorersDep,
    signal: Annotated[
        list[str] | None, Query(description="only these signals (repeat the parameter)")
    ] = None,
    area_id: Annotated[str | None, Query(max_length=64)] = None,
) -> SeriesListOut:
    """The series catalog as served (as of the last model load) with each series' area and
    position; filtered by signal and area."""
    found = scorers.catalog
    if signal:
        found = found.filter(pl.col("signal").is_in(signal))
    if area_id is not None:
        found = found.filter(pl.col("area_id") == area_id)
    columns = ["series_id", "signal", "unit", "area_id", "lat", "lon"]
    rows = found.select(columns).sort("series_id").iter_rows(named=True)
    return SeriesListOut(series=[SeriesOut(**row) for row in rows])


@router.get("/levels")
def levels(key: Reader) -> LevelsOut:
    """The warning levels, least severe first, with the colour screens draw each in."""
    return LevelsOut(
        levels=[
            LevelOut(
                colour=lv.colour,
                number=int(lv),
                name_zh=lv.name_zh,
                name_en=lv.colour.capitalize(),
                roman=lv.roman,
                hex=lv.hex,
            )
            for lv in Level
        ]
    )
