"""The operations centre's screen in headless Chromium against a real server: it loads clean
with every asset from the app, its map is coloured as ``/v1/risk`` grades, a storm posted to
the API turns areas to warning colours within seconds, an officer acknowledges from the page,
planners run a scenario beside the live map, and the English switch changes every label."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from live_server import wait_for

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
MAP_COLOURS = """() => {
    const chart = echarts.getInstanceByDom(document.getElementById('map'));
    return Object.fromEntries(
        chart.getOption().geo[0].regions.map((r) => [r.name, r.itemStyle.areaColor]));
}"""


def _open(page: Any, served: dict[str, Any], role: str = "read") -> None:
    """The page with a key in the fragment, as ``citybrain demo`` prints it, once drawn."""
    page.goto(f"{served['base']}/#key={served['keys'][role]}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)


def _expected_colours(api: Any) -> dict[str, str]:
    """Each district's colour as the API grades it: its targets' highest level in any domain,
    drawn in that level's colour from ``/v1/levels``."""
    hexes = {lv["colour"]: lv["hex"] for lv in api.get("/v1/levels").json()["levels"]}
    order = list(hexes)
    districts = [
        f["id"] for f in api.get("/v1/areas").json()["features"] if f["properties"]["parent_id"]
    ]
    highest = dict.fromkeys(districts, "none")
    for model in api.get("/v1/models").json()["models"]:
        risk = api.get("/v1/risk", params={"domain": model["domain"]}).json()
        for item in risk["items"]:
            area = item["area_id"]
            if area in highest and order.index(item["level"]) > order.index(highest[area]):
                highest[area] = item["level"]
    return {area: hexes[level] for area, level in highest.items()}


def _colours_match(page: Any, api: Any, seconds: float = 15.0) -> tuple[bool, dict, dict]:
    """Whether the map shows the API's colours within ``seconds`` (the page polls every 5 s)."""
    deadline = time.monotonic() + seconds
    while True:
        expected, shown = _expected_colours(api), page.evaluate(MAP_COLOURS)
        if shown == expected or time.monotonic() > deadline:
            return shown == expected, shown, expected
        time.sleep(0.5)


def _open_warnings(api: Any) -> list[dict[str, Any]]:
    return api.get("/v1/warnings", params={"status": "open"}).json()["warnings"]


def _post_hours(served: dict[str, Any], done: Any) -> None:
    """Post the storm's hours not posted yet with the ingest key, an hour at a time as a feed
    catching up would, until ``done()`` holds or the storm is all posted."""
    state = served["state"]
    hours = served["storm"].with_columns(pl.col("ts").dt.truncate("1h").alias("hour"))
    batches = sorted(hours.partition_by("hour"), key=lambda b: b["hour"][0])
    ingest = {"X-API-Key": served["keys"]["ingest"]}
    with httpx.Client(base_url=served["base"], timeout=60, headers=ingest) as feed:
        for batch in batches[state.get("posted", 0) :]:
            rows = [
                {"series_id": r["series_id"], "ts": r["ts"].isoformat(), "value": r["value"]}
                for r in batch.iter_rows(named=True)
            ]
            answer = feed.post("/v1/observations", json={"observations": rows})
            assert answer.status_code == 200, answer.text
            state["posted"] = state.get("posted", 0) + 1
            if done():
                return


def _storm(served: dict[str, Any]) -> dict[str, Any]:
    """The storm posted until a warning opens (once a module); the warning that opened."""
    state = served["state"]
    if "warning" in state:
        return state["warning"]
    api = served["api"]
    assert _open_warnings(api) == [], "a warning was open before the storm"
    _post_hours(served, lambda: _open_warnings(api))
    assert wait_for(lambda: _open_warnings(api)), "the storm opened no warning"
    state["warning"] = _open_warnings(api)[0]
    return state["warning"]


def test_the_page_loads_with_no_console_error_and_every_request_stays_on_the_app(
    page: Any, served: dict[str, Any]
) -> None:
    _open(page, served)
    page.wait_for_selector("#stream-state[data-state='live']", timeout=10_000)
    card = page.locator("#domains .card[data-domain='waterlogging']")
    assert card.count() == 1
    # the model in service: its version, when trained and its backtest against the baseline
    model = served["api"].get("/v1/models").json()["models"][0]
    assert model["trained_at"] and model["metric"] == "mae"
    assert model["backtest"] > 0 and model["baseline"] > 0
    assert f"v{model['version']}" in card.inner_text() and "训练于" in card.inner_text()
    assert page.title() == "城市大脑 · 城市运行预警"
    assert page.console_errors == []
    outside = [u for u in page.requested if not u.startswith(served["base"] + "/")]
    assert outside == []
    assert any(u.endswith("/vendor/echarts.min.js") for u in page.requested)
    # the key came in the fragment and was taken out of the address
    assert "#key" not in page.url


def test_the_maps_colours_match_the_levels_of_the_risk_api(
    page: Any, served: dict[str, Any]
) -> None:
    _open(page, served)
    ok, shown, expected = _colours_match(page, served["api"])
    assert ok, (shown, expected)
    assert len(shown) >= 2  # the districts, not the city's own outline


def test_a_storm_posted_to_the_api_turns_its_area_to_a_warning_colour_within_seconds(
    page: Any, served: dict[str, Any]
) -> None:
    _open(page, served)
    none = page.evaluate(MAP_COLOURS)
    assert set(none.values()) == {served["api"].get("/v1/levels").json()["levels"][0]["hex"]}
    warning = _storm(served)
    posted = time.monotonic()
    area = warning["area_id"]
    try:
        page.wait_for_function(
            f"() => {{ const c = ({MAP_COLOURS})(); return c[{area!r}] !== {none[area]!r}; }}",
            timeout=10_000,
        )
    except Exception:
        print("DEBUG", area, none, page.evaluate(MAP_COLOURS), page.console_errors)
        raise
    took = time.monotonic() - posted
    assert took < 10, f"{took:.1f} s"
    ok, shown, expected = _colours_match(page, served["api"])
    assert ok, (shown, expected)
    row = page.locator(f".warning[data-id='{warning['id']}']")
    row.wait_for(timeout=10_000)
    assert "预警" in row.inner_text()


def test_an_acknowledgement_in_the_page_changes_the_warning_in_the_api(
    page: Any, served: dict[str, Any]
) -> None:
    warning = _storm(served)
    _open(page, served, "read")
    row = page.locator(f".warning[data-id='{warning['id']}']")
    row.locator("button[data-action='ack']").click()
    # a read key may look, not act: the API's 403 is shown with its own words
    page.wait_for_function(
        "() => document.getElementById('warnings-message').textContent.includes('403')"
    )
    assert "officer" in page.locator("#warnings-message").inner_text()
    assert served["api"].get(f"/v1/warnings/{warning['id']}").json()["status"] == "open"

    page.fill("#key-input", served["keys"]["officer"])
    page.click("#key-form button[type='submit']")
    page.wait_for_selector(f".warning[data-id='{warning['id']}'] button[data-action='ack']")
    row.locator("button[data-action='ack']").click()
    assert wait_for(
        lambda: (
            served["api"].get(f"/v1/warnings/{warning['id']}").json()["status"] == "acknowledged"
        ),
        seconds=10,
    )
    found = served["api"].get(f"/v1/warnings/{warning['id']}").json()
    assert found["acked_by"] == "duty officer"
    page.wait_for_selector(f".warning[data-id='{warning['id']}'][data-status='acknowledged']")
    assert "duty officer" in row.inner_text()
    row.locator("button[data-action='history']").click()
    page.wait_for_selector(f".warning[data-id='{warning['id']}'] ol.history li")
    assert "确认" in row.locator("ol.history").inner_text()


def test_a_scenario_needs_a_district_and_is_shown_beside_the_live_map_marked_as_such(
    page: Any, served: dict[str, Any]
) -> None:
    _open(page, served, "officer")
    page.click("#scenario-run")
    assert page.locator("#scenario-message").inner_text() == "请至少选择一个区域"
    assert page.locator("#scenario-box").is_hidden()
    page.locator("#scenario-areas input[type='checkbox']").first.check()
    page.select_option("#scenario-signal", "red")
    assert page.input_value("#scenario-mm") == "100"
    page.click("#scenario-run")
    page.wait_for_selector("#scenario-box:not([hidden])", timeout=30_000)
    assert "非实况" in page.locator("#scenario-banner").inner_text()
    assert page.locator("#map").is_visible()  # the live state stays beside it
    regions = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('scenario-map'))"
        ".getOption().geo[0].regions.length"
    )
    assert regions >= 2


def test_the_english_switch_changes_every_label(page: Any, served: dict[str, Any]) -> None:
    _storm(served)  # warnings in the list too
    _open(page, served)
    labels = page.locator("[data-i18n]")
    chinese = labels.all_text_contents()
    page.click("button[data-lang='en']")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    english = labels.all_text_contents()
    same = [(zh, en) for zh, en in zip(chinese, english, strict=True) if zh == en and zh]
    assert same == []
    shown = page.locator("body").inner_text().replace("中文", "")
    assert not CJK.search(shown), CJK.findall(shown)[:20]
    # the top risks name their places as the API names them in English
    worst = served["api"].get("/v1/risk").json()["items"][0]
    top = page.locator("ol.top li .what").first.inner_text()
    assert worst["label_en"] and top == worst["label_en"]
    assert page.title() == "City Brain · Operations and early warning"
    page.click("button[data-lang='zh']")
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert "风险地图" in page.locator("body").inner_text()


def test_clicking_a_sensor_shows_its_forecast_band_observations_and_thresholds(
    page: Any, served: dict[str, Any]
) -> None:
    warning = _storm(served)
    _open(page, served)
    target = warning["worst_series_id"]
    where = page.evaluate(
        """(id) => {
            const chart = echarts.getInstanceByDom(document.getElementById('map'));
            const point = chart.getOption().series[0].data.find((d) => d.name === id);
            const [x, y] = chart.convertToPixel({geoIndex: 0}, point.value);
            const box = document.getElementById('map').getBoundingClientRect();
            return [box.left + x, box.top + y];
        }""",
        target,
    )
    page.mouse.click(*where)
    page.wait_for_selector("#detail:not([hidden])", timeout=10_000)
    option = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('detail-chart')).getOption()"
    )
    names = [s["name"] for s in option["series"]]
    assert names == ["观测", "10–90%区间", "10–90%区间", "预报"]
    detail = served["api"].get(f"/v1/risk/waterlogging/{target}").json()
    assert len(option["series"][0]["data"]) == len(detail["recent"])
    assert [m["yAxis"] for m in option["series"][3]["markLine"]["data"]] == list(
        detail["thresholds"].values()
    )
    assert page.console_errors == []


def test_the_storm_at_its_height_as_the_command_hall_sees_it(
    page: Any, served: dict[str, Any], shots: Path
) -> None:
    """The rest of the storm, until a warning is red (or the storm is all posted): the map
    still shows the API's levels; the picture is the README's."""
    _storm(served)
    api = served["api"]
    _open(page, served)
    _post_hours(served, lambda: any(w["level"] == "red" for w in _open_warnings(api)))
    ok, shown, expected = _colours_match(page, api)
    assert ok, (shown, expected)
    page.wait_for_timeout(1500)  # the last changes drawn
    page.screenshot(path=str(shots / "dashboard.png"))
    page.set_viewport_size({"width": 3840, "height": 2160})  # the command hall's wall
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shots / "dashboard-4k.png"))


def test_the_live_list_follows_changes_made_elsewhere_and_resumes_after_a_break(
    page: Any, served: dict[str, Any]
) -> None:
    """A change made through the API reaches the page over the stream; after the network
    drops, the page opens the stream again from the last event it saw (``Last-Event-ID``) and
    a change made during the break still arrives. (Last in the module: it lifts a warning.)"""
    warning = _open_warnings(served["api"])[0] if served["state"] else _storm(served)
    _open(page, served)
    page.wait_for_selector("#stream-state[data-state='live']")
    streams: list[dict[str, str]] = []
    page.on("request", lambda r: streams.append(r.headers) if "/stream" in r.url else None)
    admin, path = served["admin"], f"/v1/warnings/{warning['id']}"
    row = f".warning[data-id='{warning['id']}']"
    if warning["status"] == "open":
        assert admin.post(f"{path}/ack", json={"note": "crews on the way"}).status_code == 200
        page.wait_for_selector(f"{row}[data-status='acknowledged']")
    else:  # acknowledged by an earlier test: a note in the history is a change too
        page.wait_for_selector(f"{row}[data-status='acknowledged']")

    page.context.set_offline(True)
    page.wait_for_selector("#stream-state[data-state='down']", timeout=10_000)
    assert admin.post(f"{path}/resolve", json={"note": "pumped dry"}).status_code == 200
    page.context.set_offline(False)
    page.wait_for_selector(f"{row}[data-status='closed']", timeout=15_000)
    resumed = [h for h in streams if "last-event-id" in h]
    assert resumed, streams
    assert resumed[0]["last-event-id"].isdigit()
