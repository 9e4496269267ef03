"""Rivers and hotline warn through the product's outside, as waterlogging does: small versions
of the shipped tasks (their warning rules as shipped) trained through the CLI and served by a
real server on SQLite and on the real PostgreSQL; the storm's held-back river levels are posted
and a burst of calls nobody forecast is posted as events."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from live_server import live_server, post_until, wait_for

HOUR = timedelta(hours=1)


def _burst(end: datetime) -> list[dict]:
    """A main bursts in one district: water-supply calls in the two hours before ``end``, 30 in
    the first and 90 in the second, as a burst's calls climb while word spreads."""
    times = [end - 2 * HOUR + (i + 0.5) * HOUR / 30 for i in range(30)]
    times += [end - HOUR + (i + 0.5) * HOUR / 90 for i in range(90)]
    return [
        {
            "event_id": f"burst-{i:03d}",
            "ts": ts.isoformat(),
            "source": "hotline",
            "category": "water_supply",
            "area_id": "gulou",
            "lat": 26.09,
            "lon": 119.29,
        }
        for i, ts in enumerate(times)
    ]


def test_river_levels_warn_at_each_gauges_own_levels_over_http(
    trained_domains, ledger_url, tmp_path
):
    """The storm's river levels and rain, posted as they arrive: a gauge warns at its own
    catalog levels, named for people and in metres, with every level's probability."""
    feed = trained_domains["held"].filter(
        pl.col("series_id").str.starts_with("level") | pl.col("series_id").str.starts_with("rain")
    )
    with live_server(
        home=trained_domains["home"],
        city=trained_domains["data"],
        workdir=tmp_path,
        tasks=[trained_domains["rivers"]],
        ledger_url=ledger_url,
    ) as (client, receiver):
        post_until(client, feed, lambda: receiver.received)
        assert wait_for(lambda: any(m["domain"] == "rivers" for m in receiver.received))
        river = next(m for m in receiver.received if m["domain"] == "rivers")
        assert river["action"] == "opened" and river["unit"] == "m"
        assert "水位" in river["message_zh"] and river["series_id"] not in river["message_zh"]
        risk = client.get("/v1/risk", params={"domain": "rivers"}).json()
        item = risk["items"][0]
        assert risk["unit"] == "m" and item["label"] and item["series_id"] not in item["label"]
        assert set(item["probabilities"]) == {"blue", "yellow", "orange", "red"}
        listed = client.get("/v1/warnings", params={"domain": "rivers"}).json()["warnings"]
        assert river["id"] in [w["id"] for w in listed]


def test_a_burst_of_calls_nobody_forecast_warns_over_http(trained_domains, ledger_url, tmp_path):
    """On a calm day two days before the storm, a main bursts: 120 water-supply calls in one
    district over two hours, posted as events, above the forecasts' q90 both hours. The service
    warns at once, red (over 6 times any norm), saying what was seen against what was expected;
    the quiet districts stay quiet."""
    calm = trained_domains["held"]["ts"].min() - timedelta(days=2)
    hour = calm.replace(minute=0, second=0, microsecond=0)  # the last complete hour's end
    with live_server(
        home=trained_domains["home"],
        city=trained_domains["data"],
        workdir=tmp_path,
        until=calm,
        tasks=[trained_domains["hotline"]],
        ledger_url=ledger_url,
    ) as (client, receiver):
        before = client.get("/v1/risk", params={"domain": "hotline"}).json()
        assert before["unit"] == "tickets/h"
        assert all(i["level"] == "none" for i in before["items"]), "not a calm day"
        answer = client.post("/v1/events", json={"events": _burst(hour)})
        assert answer.status_code == 200 and answer.json()["inserted"] == 120, answer.text

        def surge() -> list[dict]:
            return [m for m in receiver.received if m["domain"] == "hotline"]

        assert wait_for(lambda: surge(), 60), "no hotline warning after the burst"
        (hit,) = surge()
        assert hit["action"] == "opened" and hit["area_id"] == "gulou"
        assert hit["series_id"] == "hotline:gulou:water_supply" and hit["level"] == "red"
        assert "预测外激增" in hit["message_zh"], hit["message_zh"]
        assert "件/小时" in hit["message_zh"] and "鼓楼区 water supply" in hit["message_zh"]
        assert hit["series_id"] not in hit["message_zh"]
        shown = client.get(f"/v1/warnings/{hit['id']}").json()
        assert shown["domain"] == "hotline" and shown["status"] == "open"


def test_congestion_in_a_flooded_district_names_the_ponding_as_its_likely_cause(
    trained_domains, ledger_url, tmp_path
):
    """Waterlogging and traffic served together on the storm: roads slow where streets flood,
    and a congestion warning in a district with an open ponding warning names it as the likely
    cause (the coupling no single-domain tool has); speeds are named and in km/h."""
    feed = trained_domains["held"]
    with live_server(
        home=trained_domains["home"],
        city=trained_domains["data"],
        workdir=tmp_path,
        tasks=[trained_domains["task"], trained_domains["traffic"]],
        ledger_url=ledger_url,
    ) as (client, receiver):

        def caused() -> list[dict]:
            return [m for m in receiver.received if m["domain"] == "traffic" and m["cause"]]

        post_until(client, feed, caused)
        assert wait_for(lambda: caused(), 30), [
            (m["domain"], m["area_id"], m["action"]) for m in receiver.received
        ]
        hit = caused()[0]
        assert hit["cause"]["domain"] == "waterlogging" and hit["unit"] == "km/h"
        assert "积水" in hit["message_zh"] and "或为诱因" in hit["message_zh"]
        ponding = client.get(
            "/v1/warnings", params={"domain": "waterlogging", "area_id": hit["area_id"]}
        ).json()["warnings"]
        assert ponding, "the named cause is a ponding warning in the same district"
