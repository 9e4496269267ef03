"""The city's reference data a map needs: its areas as GeoJSON, where each series stands, and
the warning levels' names and colours."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from serving.schemas import Colour


class AreaProperties(BaseModel):
    area_id: str
    name: str = Field(description="the area's name in English")
    name_zh: str | None = Field(description="the area's name in Chinese")
    parent_id: str | None = Field(description="the area it lies in (null: the city itself)")


class AreaFeature(BaseModel):
    """One area as a GeoJSON Feature (RFC 7946), its id the area id."""

    type: Literal["Feature"] = "Feature"
    id: str
    properties: AreaProperties
    geometry: dict[str, Any] | None = Field(
        description="a GeoJSON Polygon or MultiPolygon in WGS 84 (lon, lat); null where the "
        "areas table holds no outline"
    )


class AreasOut(BaseModel):
    """Every area of the city as a GeoJSON FeatureCollection, the city first."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]


class SeriesOut(BaseModel):
    """A series of the catalog and where it stands."""

    series_id: str
    signal: str = Field(description="e.g. ponding_cm, water_level_m, speed_kmh, rain_mm")
    unit: str | None
    area_id: str | None
    lat: float | None
    lon: float | None


class SeriesListOut(BaseModel):
    series: list[SeriesOut] = Field(description="in series_id order")


class LevelOut(BaseModel):
    """A warning level as people see it: its names, its official number and its colour."""

    colour: Colour
    number: int = Field(description="0 (none) to 4 (red): the order of severity")
    name_zh: str
    name_en: str
    roman: str = Field(description="the official level (red is I); empty for none")
    hex: str = Field(description="the colour screens and messages draw it in, e.g. #E02020")


class LevelsOut(BaseModel):
    levels: list[LevelOut] = Field(description="least severe first")
