"""What a map needs, through the HTTP API: the areas as GeoJSON, where each series stands, and
the levels' colours (the ones every message uses)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from alerts import Level


def test_areas_answer_a_geojson_feature_collection_with_both_names_the_city_first(
    client: TestClient,
) -> None:
    body = client.get("/v1/areas").json()
    assert body["type"] == "FeatureCollection"
    ids = [f["id"] for f in body["features"]]
    assert ids == ["fuzhou", "gulou", "taijiang"]
    gulou = body["features"][1]
    assert gulou["type"] == "Feature"
    assert gulou["properties"] == {
        "area_id": "gulou",
        "name": "Gulou",
        "name_zh": "鼓楼区",
        "parent_id": "fuzhou",
    }
    assert gulou["geometry"] is None  # the tiny city's table draws no outlines


def test_an_areas_outline_is_served_as_the_geojson_the_table_holds(
    client: TestClient, settings
) -> None:
    import polars as pl

    from features import Store

    store = Store(settings.data)
    ring = [[119.28, 26.07], [119.3, 26.07], [119.3, 26.09], [119.28, 26.09], [119.28, 26.07]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    areas = store.read("areas").with_columns(
        pl.when(pl.col("area_id") == "gulou")
        .then(pl.lit(json.dumps(polygon)))
        .otherwise(pl.col("geometry"))
        .alias("geometry")
    )
    store.write("areas", areas)
    found = {f["id"]: f for f in client.get("/v1/areas").json()["features"]}
    assert found["gulou"]["geometry"] == polygon


def test_series_answer_each_series_area_and_position_filtered_by_signal_and_area(
    client: TestClient,
) -> None:
    every = client.get("/v1/series").json()["series"]
    assert [s["series_id"] for s in every] == sorted(s["series_id"] for s in every)
    pond = next(s for s in every if s["series_id"] == "pond-1")
    assert pond == {
        "series_id": "pond-1",
        "signal": "ponding_cm",
        "unit": "cm",
        "area_id": "gulou",
        "lat": 26.08,
        "lon": 119.29,
    }
    both = client.get("/v1/series", params={"signal": ["ponding_cm", "rain_mm"]}).json()
    assert {s["signal"] for s in both["series"]} == {"ponding_cm", "rain_mm"}
    assert len(both["series"]) == 4
    taijiang = client.get("/v1/series", params={"area_id": "taijiang", "signal": "rain_mm"})
    assert [s["series_id"] for s in taijiang.json()["series"]] == ["rain-2"]


def test_levels_answer_the_colours_and_names_of_the_alerts_levels_least_severe_first(
    client: TestClient,
) -> None:
    levels = client.get("/v1/levels").json()["levels"]
    assert [lv["colour"] for lv in levels] == ["none", "blue", "yellow", "orange", "red"]
    assert [lv["hex"] for lv in levels] == [lv.hex for lv in Level]
    red = levels[-1]
    assert red == {
        "colour": "red",
        "number": 4,
        "name_zh": "红色",
        "name_en": "Red",
        "roman": "I",
        "hex": Level.RED.hex,
    }
