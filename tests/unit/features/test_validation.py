"""validate: the conformed frame on good input, one error listing every problem on bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from features.errors import DataError
from features.schemas import SCHEMAS
from features.validation import MAX_PROBLEMS, validate

CATALOG = pl.DataFrame(
    {"series_id": ["p1", "t1"], "signal": ["ponding_cm", "temperature_c"], "unit": ["cm", "degC"]}
)


def observations(**columns: list) -> pl.DataFrame:
    base = {"series_id": ["p1"], "ts": ["2025-07-01T08:00:00+08:00"], "value": ["1"]}
    return pl.DataFrame({**base, **columns})


def test_valid_text_input_is_conformed_to_the_canonical_schema() -> None:
    out = validate("observations", observations(), source="obs.csv", catalog=CATALOG)
    assert dict(out.schema) == SCHEMAS["observations"]
    assert out.row(0) == ("p1", datetime(2025, 7, 1, tzinfo=UTC), 1.0, None)


def test_every_problem_is_listed_in_one_error_with_the_first_in_its_fields() -> None:
    frame = pl.DataFrame(
        {
            "series_id": ["p1", "p1", "zz"],
            "ts": ["bad", "2025-07-01T00:00Z", "2025-07-01T00:00Z"],
            "value": ["1", "x", "2"],
        }
    )
    with pytest.raises(DataError) as info:
        validate("observations", frame, source="obs.csv", catalog=CATALOG)
    err = info.value
    assert (err.file, err.row, err.column) == ("obs.csv", 1, "ts")
    message = str(err)
    assert "2 more" in message and "row 2, column 'value'" in message
    assert "row 3, column 'series_id'" in message and "\n" not in message


def test_at_most_max_problems_are_shown() -> None:
    n = MAX_PROBLEMS + 5
    frame = pl.DataFrame(
        {"series_id": ["p1"] * n, "ts": ["2025-07-01T00:00Z"] * n, "value": ["x"] * n}
    )
    with pytest.raises(DataError, match=f"{n - 1} more: .*and more not shown"):
        validate("observations", frame, source="obs.csv", catalog=CATALOG)


def test_fahrenheit_is_converted_to_celsius_before_the_range_check() -> None:
    frame = pl.DataFrame(
        {
            "series_id": ["t1", "t1"],
            "ts": ["2025-07-01T00:00Z", "2025-07-01T01:00Z"],
            "value": ["100", "212"],
            "unit": ["degF", "degF"],
        }
    )
    with pytest.raises(DataError, match="row 2, column 'value': value 100 degC is outside"):
        validate("observations", frame, source="o", catalog=CATALOG)
    out = validate("observations", frame.head(1), source="o", catalog=CATALOG)
    assert out["value"][0] == pytest.approx(37.777778)


def test_without_a_catalog_series_checks_are_skipped_but_units_are_refused() -> None:
    assert validate("observations", observations(series_id=["any"]), source="o").height == 1
    with pytest.raises(DataError, match="without the series catalog"):
        validate("observations", observations(unit=["m"]), source="o")


def test_the_common_spellings_of_a_unit_are_that_unit() -> None:
    # 'C', '°C', '℃' and 'celsius' are degC; 'F' is converted from Fahrenheit; a made-up
    # spelling is still refused, naming the allowed ones
    n = 6
    frame = pl.DataFrame(
        {
            "series_id": ["t1"] * n,
            "ts": [f"2025-07-01T0{k}:00Z" for k in range(n)],
            "value": ["30", "30", "30", "30", "86", "30"],
            "unit": ["C", "°C", " ℃ ", "Celsius", "F", "degC"],
        }
    )
    out = validate("observations", frame, source="o", catalog=CATALOG)
    assert out["value"].to_list() == pytest.approx([30.0] * n)
    with pytest.raises(DataError, match=r"unit .kelvinish. does not fit.*allowed units: degC"):
        validate("observations", frame.with_columns(unit=pl.lit("kelvinish")), source="o",
                 catalog=CATALOG)  # fmt: skip
    series = pl.DataFrame({"series_id": ["t2"], "signal": ["temperature_c"], "unit": ["°C"]})
    assert validate("series", series, source="s.csv")["unit"].to_list() == ["degC"]


def test_series_rows_need_a_known_signal_with_its_unit_or_a_plain_new_name() -> None:
    good = pl.DataFrame(
        {"series_id": ["a", "b"], "signal": ["rain_mm", "soil_moisture_pct"], "unit": ["mm", "%"]}
    )
    assert validate("series", good, source="s.csv").height == 2
    bad = pl.DataFrame(
        {
            "series_id": ["a", "b"],
            "signal": ["rain_mm", "Soil Moisture"],
            "unit": ["in", "%"],
            "lat": ["26", "95"],
        }
    )
    with pytest.raises(DataError) as info:
        validate("series", bad, source="s.csv")
    message = str(info.value)
    assert "row 1, column 'unit'" in message and "kept in mm" in message
    assert "column 'signal'" in message and "column 'lat'" in message


def test_attrs_must_be_a_json_object() -> None:
    frame = pl.DataFrame(
        {"series_id": ["a"], "signal": ["rain_mm"], "unit": ["mm"], "attrs": ["[1]"]}
    )
    with pytest.raises(DataError, match=r"row 1, column 'attrs'.*not a JSON object"):
        validate("series", frame, source="s.csv")


def test_events_need_unique_ids_and_known_areas_when_areas_are_known() -> None:
    events = pl.DataFrame(
        {
            "event_id": ["e1", "e2", "e1"],
            "ts": ["2025-07-01T00:00Z"] * 3,
            "source": ["hotline", "hotline", "patrol"],
            "area_id": ["gulou", "mars", "gulou"],
        }
    )
    areas = pl.DataFrame({"area_id": ["gulou"], "name": ["Gulou"]})
    with pytest.raises(DataError) as info:
        validate("events", events, source="e.csv", catalog=areas)
    message = str(info.value)
    assert "row 2, column 'area_id': area 'mars' is not known" in message
    assert "rows 1 and 3 repeat the key (event_id=e1) with different source" in message
    assert validate("events", events.head(2), source="e.csv").height == 2


def test_weather_forecasts_must_be_valid_at_or_after_issue() -> None:
    frame = pl.DataFrame(
        {
            "issued_at": ["2025-07-01T06:00Z"],
            "valid_at": ["2025-07-01T03:00Z"],
            "area_id": ["gulou"],
            "variable": ["rain_mm"],
            "value": ["2"],
        }
    )
    with pytest.raises(DataError, match=r"row 1, column 'valid_at'.*is before issued_at"):
        validate("weather_forecasts", frame, source="w.csv")


def test_non_existent_local_times_are_refused() -> None:
    frame = observations(ts=["2025-03-09 02:30"])
    with pytest.raises(DataError, match="does not exist in time zone America/New_York"):
        validate("observations", frame, source="o", catalog=CATALOG, tz="America/New_York")


def test_an_unknown_table_is_refused() -> None:
    with pytest.raises(DataError, match="unknown table 'readings'"):
        validate("readings", observations(), source="o")
