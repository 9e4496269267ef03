"""Series counted from events: 12345 tickets as targets, outages and incidents as covariates.

Counts land in the same right-closed bins as observations (``(t - step, t]`` labelled ``t``).
A bin with no events counts zero, but only while the feed is known to be live: from the source's
first event up to the later of its last event and the last origin being built (at an origin the
feed is live by definition; after the last event and beyond the origins nothing is known, so
those bins stay null and never become a fake zero target).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import polars as pl

from features.grid import floor_to_grid, time_axis, time_span
from features.schemas import UTC_TS, conform
from features.tables import CityTables
from features.tasks import EventCounts, TaskConfig


def event_signal(source: str, name: str | None = None) -> str:
    """The signal name of counted events (``hotline_count``, ``events_outages``)."""
    return f"events_{name}" if name else f"{source}_count"


def with_event_series(
    tables: CityTables,
    task: TaskConfig,
    *,
    live_until: datetime | None = None,
    complete_until: datetime | None = None,
    targets: bool = True,
    covariates: bool = True,
) -> CityTables:
    """The tables plus the count series the task declares (as catalog rows and observations):
    its targets counted from events and its event covariates, each as asked.

    ``complete_until``: the last bin end the data's clock has passed; later bins are still
    filling (at 08:10 the hour to 09:00 holds ten minutes of calls) and are left out, so that
    a partial count is never read as an hour's."""
    specs: list[tuple[str, str, tuple[str, ...] | None, bool, str | None, dict[str, str]]] = []
    target = task.target.events
    if target is not None and targets:
        specs.append(
            (
                task.target.signal,
                target.source,
                target.categories,
                target.by_category,
                None,
                target.names_zh,
            )
        )
    if covariates:
        for ev in task.features.events:
            specs.append(
                (event_signal(ev.source, ev.name), ev.source, ev.categories, False, ev.link, {})
            )
    if not specs:
        return tables
    step = task.step
    series, obs = [tables.series], [tables.observations]
    for signal, source, categories, by_category, link, names_zh in specs:
        if signal in tables.series["signal"].to_list():
            continue
        new_series, counts = _count(
            tables.events,
            signal=signal,
            source=source,
            categories=categories,
            by_category=by_category,
            city=link == "city",
            step=step,
            live_until=live_until,
            areas=_districts(tables.areas),
            names_zh=names_zh,
        )
        if complete_until is not None:
            counts = counts.filter(pl.col("ts") <= complete_until)
        series.append(conform("series", new_series))
        obs.append(conform("observations", counts))
    return replace(tables, series=pl.concat(series), observations=pl.concat(obs))


def _count(
    events: pl.DataFrame,
    *,
    signal: str,
    source: str,
    categories: tuple[str, ...] | None,
    by_category: bool,
    city: bool,
    step: timedelta,
    live_until: datetime | None,
    areas: list[str],
    names_zh: dict[str, str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ev = events.filter(pl.col("source") == source)
    if categories is not None:
        ev = ev.filter(pl.col("category").is_in(list(categories)))
    if ev.is_empty():
        return pl.DataFrame(schema={"series_id": pl.String}), pl.DataFrame(
            schema={"series_id": pl.String, "ts": UTC_TS, "value": pl.Float64}
        )
    area = pl.lit("fuzhou") if city else pl.col("area_id").fill_null("unknown")
    sid = pl.concat_str(
        [pl.lit(f"{source}:"), area]
        + ([pl.lit(":"), pl.col("category").fill_null("other")] if by_category else [])
    )
    step_us = int(step / timedelta(microseconds=1))
    keyed = ev.with_columns(
        sid.alias("series_id"),
        area.alias("area_id"),
        ((pl.col("ts").dt.epoch("us") - 1) // step_us * step_us + step_us)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .cast(UTC_TS)
        .alias("ts"),
    )
    counts = keyed.group_by("series_id", "ts").agg(pl.len().cast(pl.Float64).alias("value"))
    first, last = time_span(ev["ts"])
    start = floor_to_grid(first, step)
    end = floor_to_grid(last, step) + step
    if live_until is not None:
        end = max(end, floor_to_grid(live_until, step))
    catalog = _catalog(
        keyed,
        source=source,
        categories=categories,
        by_category=by_category,
        areas=["fuzhou"] if city else areas,
    )
    full = catalog.select("series_id").join(time_axis(start, end, step).to_frame(), how="cross")
    observations = full.join(counts, on=["series_id", "ts"], how="left").with_columns(
        pl.col("value").fill_null(0.0)
    )
    attrs = (
        catalog["series_id"].map_elements(
            lambda sid: _category_attrs(sid.split(":", 2)[2], names_zh), return_dtype=pl.String
        )
        if by_category and not catalog.is_empty()
        else pl.Series("attrs", ["{}"] * catalog.height, dtype=pl.String)
    )
    new_series = catalog.with_columns(
        pl.lit(signal).alias("signal"), pl.lit("count").alias("unit"), attrs.alias("attrs")
    )
    return new_series, observations


def _category_attrs(category: str, names_zh: dict[str, str]) -> str:
    """A category's count series' attrs: the category, its name for people (the category in
    words, so a warning never names a series id) and its Chinese name where the task gives one
    (``target.events.names_zh``)."""
    attrs = {"category": category, "name": category.replace("_", " ")}
    if category in names_zh:
        attrs["name_zh"] = names_zh[category]
    return json.dumps(attrs, ensure_ascii=False, sort_keys=True)


def _districts(areas: pl.DataFrame) -> list[str]:
    """Areas that count events: those with a parent (districts), else every area."""
    sub = areas.filter(pl.col("parent_id").is_not_null())["area_id"].to_list()
    return sorted(sub or areas["area_id"].to_list())


def _catalog(
    keyed: pl.DataFrame,
    *,
    source: str,
    categories: tuple[str, ...] | None,
    by_category: bool,
    areas: list[str],
) -> pl.DataFrame:
    """The count series: every declared area (x category), so the set of series does not
    depend on which of them happened to have events in the data at hand; series seen in the
    events but not declared are kept as well."""
    seen = keyed.group_by("series_id").agg(pl.col("area_id").first())
    if not areas or (by_category and categories is None):
        return seen.sort("series_id")
    if by_category:
        rows = [(f"{source}:{a}:{c}", a) for a in areas for c in categories or ()]
    else:
        rows = [(f"{source}:{a}", a) for a in areas]
    declared = pl.DataFrame(rows, schema=["series_id", "area_id"], orient="row")
    return pl.concat([declared, seen.join(declared, on="series_id", how="anti")]).sort("series_id")


def event_covariate_as_link(ev: EventCounts) -> dict:
    """The linked-covariate declaration equivalent to an event count (sums over its series)."""
    return {
        "name": ev.name,
        "signal": event_signal(ev.source, ev.name),
        "link": ev.link,
        "sums": ev.sums,
    }
