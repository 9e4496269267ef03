"""The API as an integrator and an attacker try it, in process over the trained champion:
implausible input refused or held for review, re-posts that change nothing, bodies past the
limit refused while read, errors that never echo input, cheap polling with ETags, metrics and
offline docs."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from fastapi.testclient import TestClient

from features import Store
from serving import Settings, create_app
from training import configure


def _rows(frame: pl.DataFrame) -> list[dict]:
    return [
        {"series_id": r["series_id"], "ts": r["ts"].isoformat(), "value": r["value"]}
        for r in frame.iter_rows(named=True)
    ]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def test_implausible_input_is_refused_or_held_and_nothing_is_acted_on(
    trained, tmp_path, serve_trained
):
    client, tokens = serve_trained(max_warning_changes=1, max_origin_jump_s=86400.0)
    admin = {"X-API-Key": tokens["admin"]}
    with client:
        before = _files(tmp_path / "data")
        warned = client.get("/v1/warnings", headers=admin).json()["warnings"]
        # a reading dated 2030 (a sender's clock): refused, naming the row and the column
        future = {"series_id": "ponding-gulou-01", "ts": "2030-01-01T00:00:00Z", "value": 250}
        answer = client.post("/v1/observations", json=[future])
        assert answer.status_code == 422 and "in the future" in answer.json()["detail"]
        # a weather forecast of 1e9 mm, negative rain, an unknown variable, an unknown source
        issued = "2025-07-14T08:00:00+08:00"
        fc = {"issued_at": issued, "valid_at": "2025-07-14T09:00:00+08:00", "area_id": "gulou"}
        for bad, word in (
            ({**fc, "variable": "rain_mm", "value": 1e9}, "outside the range"),
            ({**fc, "variable": "rain_mm", "value": -3}, "outside the range"),
            ({**fc, "variable": "snow_depth", "value": 3}, "not known"),
        ):
            answer = client.post("/v1/forecasts", json={"forecasts": [bad]})
            assert answer.status_code == 422 and word in answer.json()["detail"], bad
        event = {"event_id": "e-1", "ts": issued, "source": "hacker", "area_id": "gulou"}
        answer = client.post("/v1/events", json={"events": [event]})
        assert answer.status_code == 422 and "not a known event feed" in answer.json()["detail"]
        assert _files(tmp_path / "data") == before
        # the held-back storm in one batch would open several warnings at once: held
        storm = _rows(trained["held"].filter(pl.col("series_id").str.starts_with("ponding")))
        held = client.post("/v1/observations", json={"observations": storm})
        assert held.status_code == 202, held.text
        reason = held.json()["quarantined"]["reason"]
        assert "warnings at once" in reason and held.json()["accepted"] == 0
        assert _files(tmp_path / "data") == before
        assert client.get("/v1/warnings", headers=admin).json()["warnings"] == warned
        # an admin sees why, and releases it: the storm is taken and the warnings open
        assert client.get("/v1/quarantine").status_code == 403  # an ingest key may not
        (listed,) = client.get("/v1/quarantine", headers=admin).json()["batches"]
        assert listed["posted_by"] == "ingest desk" and listed["rows"] == len(storm)
        released = client.post(f"/v1/quarantine/{listed['id']}/release", headers=admin)
        assert released.status_code == 200 and released.json()["warning_changes"] >= 2
        assert client.get("/v1/quarantine", headers=admin).json()["batches"] == []
        # a reading dated today would move the origin a year on at once: held
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        jump = client.post("/v1/observations", json=[{**future, "ts": now, "value": 1.0}])
        assert jump.status_code == 202 and "origin" in jump.json()["quarantined"]["reason"]


def test_a_repost_changes_nothing_and_never_rewrites_received_at(trained, tmp_path, serve_trained):
    client, _ = serve_trained()
    with client:
        ts = trained["held"]["ts"].min()
        row = {"series_id": "ponding-gulou-01", "ts": ts.isoformat(), "value": 1.5}
        late = {**row, "received_at": (ts + timedelta(hours=2)).isoformat()}
        assert client.post("/v1/observations", json=[late]).json()["inserted"] == 1
        before = _files(tmp_path / "data")
        again = client.post("/v1/observations", json=[row]).json()  # no received_at this time
        assert (again["unchanged"], again["updated"], again["rescored"]) == (1, 0, [])
        assert _files(tmp_path / "data") == before
        corrected = client.post("/v1/observations", json=[{**row, "value": 2.0}]).json()
        assert corrected["updated"] == 1
        stored = Store(tmp_path / "data").read("observations")
        kept = stored.filter((pl.col("series_id") == row["series_id"]) & (pl.col("ts") == ts))
        assert kept["received_at"].item() == ts + timedelta(hours=2)  # never erased


def test_ndjson_and_bare_arrays_are_taken_and_a_body_past_the_limit_is_413(
    trained, tmp_path, serve_trained
):
    client, _ = serve_trained(max_body_bytes=200_000)
    with client:
        rows = _rows(trained["held"].head(3))
        ndjson = b"\n".join(orjson.dumps(r) for r in rows)
        answer = client.post(
            "/v1/observations", content=ndjson, headers={"Content-Type": "application/x-ndjson"}
        )
        assert answer.status_code == 200 and answer.json()["accepted"] == 3
        assert client.post("/v1/observations", json=rows).json()["unchanged"] == 3
        marker = "Z" * 300_000
        big = client.post("/v1/observations", json=[{**rows[0], "series_id": marker}])
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        assert marker[:100] not in big.text
        echo = "Y" * 5_000
        refused = client.post("/v1/observations", json=[{**rows[0], "value": echo}])
        assert refused.status_code == 422 and echo[:50] not in refused.text
        wrong = client.post("/v1/observations", content=b"x", headers={"Content-Type": "text/csv"})
        assert wrong.status_code == 415


def test_polling_risk_answers_an_etag_and_304_and_the_detail_has_thresholds(
    trained, tmp_path, serve_trained
):
    client, tokens = serve_trained()
    with client:
        reader = {"X-API-Key": tokens["read"]}
        first = client.get("/v1/risk", headers=reader)
        assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
        etag = first.headers["etag"]
        # the edge cache and the typed route answer the same bytes: a repeated parameter is
        # left to the route
        routed = client.get("/v1/risk?domain=waterlogging&domain=waterlogging", headers=reader)
        assert routed.content == first.content and routed.headers["etag"] == etag
        for query, status in (("level=purple", 422), ("domain=atlantis", 404)):
            assert client.get(f"/v1/risk?{query}", headers=reader).status_code == status
        assert client.get("/v1/risk", headers={"X-API-Key": "cbk_x_y"}).status_code == 401
        same = client.get("/v1/risk", headers={**reader, "If-None-Match": etag})
        assert same.status_code == 304 and same.content == b""
        items = first.json()["items"]
        area = items[0]["area_id"]
        cut = client.get("/v1/risk", params={"area_id": area}, headers=reader).json()["items"]
        assert cut and {i["area_id"] for i in cut} == {area}
        none = client.get("/v1/risk", params={"level": "red"}, headers=reader).json()["items"]
        assert all(i["level"] == "red" for i in none)
        detail = client.get(f"/v1/risk/waterlogging/{items[0]['series_id']}", headers=reader)
        assert detail.json()["thresholds"] == {"blue": 5, "yellow": 10, "orange": 15, "red": 20}
        # roads' readings do not touch the ponding forecast; the next ponding readings do, and
        # the ETag changes with them
        held = trained["held"]
        roads = held.filter(pl.col("series_id").str.starts_with("road"))
        roads = roads.filter(pl.col("ts") == roads["ts"].min())
        scorers = client.app.state.scorers  # type: ignore[attr-defined]
        generations = {d: scorers.generation_of(d) for d in scorers.by_domain}
        assert client.post("/v1/observations", json=_rows(roads)).json()["rescored"] == []
        assert client.get("/v1/risk", headers=reader).headers["etag"] == etag
        # nor does the warning engine look again, nor the view rebuild
        assert {d: scorers.generation_of(d) for d in scorers.by_domain} == generations
        ponding = held.filter(pl.col("series_id").str.starts_with("ponding"))
        ponding = ponding.filter(pl.col("ts") == ponding["ts"].min())
        answer = client.post("/v1/observations", json=_rows(ponding)).json()
        assert answer["rescored"] == ["waterlogging"]
        assert client.get("/v1/risk", headers=reader).headers["etag"] != etag
        assert scorers.generation_of("waterlogging") != generations["waterlogging"]


def test_metrics_models_readiness_request_ids_and_offline_docs(trained, tmp_path, serve_trained):
    client, tokens = serve_trained()
    with client:
        reader = {"X-API-Key": tokens["read"]}
        client.get("/v1/risk", headers=reader)
        assert client.get("/metrics", headers={"X-API-Key": ""}).status_code == 401
        text = client.get("/metrics", headers=reader).text
        assert 'citybrain_http_request_duration_seconds_count{method="GET",route="/v1/risk"' in text
        assert 'citybrain_model_info{calibration="scale",domain="waterlogging"' in text
        assert "citybrain_rescore_seconds_count" in text
        model = client.get("/v1/models", headers=reader).json()["models"][0]
        assert (model["family"], model["calibration"]) == ("lightgbm", "scale")
        answer = client.get("/readyz", headers={"X-Request-ID": "trace-42"})
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "trace-42"
        docs = client.get("/docs").text
        assert "cdn" not in docs.lower() and "https://" not in docs
        asset = docs.split('src="')[1].split('"')[0]
        assert client.get(asset).status_code == 200


@pytest.mark.parametrize("tasks", ["{task},no-such-task"])
def test_readiness_is_503_naming_a_configured_task_without_a_champion(trained, tmp_path, tasks):
    data = tmp_path / "data"
    shutil.copytree(trained["data"], data)
    settings = Settings(
        home=trained["home"],
        data=data,
        tasks=tasks.format(task=trained["task"]),
        ledger_url=f"sqlite:///{tmp_path / 'warnings.db'}",
    )
    with TestClient(create_app(settings)) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert "no-such-task" in answer.json()["problems"]
        assert answer.json()["models"] == {"waterlogging": "1"}


def test_a_what_if_storm_is_scored_by_the_champions_and_writes_nothing(
    trained, tmp_path, serve_trained
):
    client, tokens = serve_trained()
    with client:
        planner = {"X-API-Key": tokens["officer"]}
        before = _files(tmp_path / "data")
        warned = client.get("/v1/warnings", headers=planner).json()["warnings"]
        etag = client.get("/v1/risk", headers=planner).headers["etag"]
        calm = {"name": "calm", "storms": [{"areas": ["gulou"], "mm": 0, "hours": 3}]}
        quiet = client.post("/v1/scenarios", json=calm, headers=planner).json()
        storm = {
            "name": "100 mm in 3 h over the city, red signal",
            "storms": [{"mm": 100, "hours": 3, "signal": "red"}],
        }
        answer = client.post("/v1/scenarios", json=storm, headers=planner)
        assert answer.status_code == 200, answer.text
        wet = answer.json()["domains"]["waterlogging"]
        assert wet["targets_at_level"] > quiet["domains"]["waterlogging"]["targets_at_level"]
        assert max(t["peak_value"] for t in wet["targets"]) > 5
        planned = answer.json()["warnings"]  # this small model's storm is already on
        assert all(w["action"] in ("opened", "escalated", "joined") for w in planned)
        assert _files(tmp_path / "data") == before
        assert client.get("/v1/warnings", headers=planner).json()["warnings"] == warned
        assert client.get("/v1/risk", headers=planner).headers["etag"] == etag
        nowhere = {"storms": [{"areas": ["atlantis"], "mm": 50}]}
        missing = client.post("/v1/scenarios", json=nowhere, headers=planner)
        assert missing.status_code == 404 and "atlantis" in missing.json()["detail"]
        assert client.post("/v1/scenarios", json=storm).status_code == 403  # an ingest key


def test_a_registry_outage_leaves_the_kept_champion_serving_and_a_new_one_is_picked_up(
    trained, tmp_path, serve_trained
):
    """The first start keeps a copy of the champion; a start with the registry away serves it
    and says so; a champion promoted while serving is picked up without a restart."""
    client, tokens = serve_trained()
    with client:  # the registry answers: the champion is kept on disk
        reader = {"X-API-Key": tokens["read"]}
        assert client.get("/v1/models", headers=reader).json()["models"][0]["source"] == "registry"
    away = Settings(
        home=trained["home"],
        data=tmp_path / "data",
        tasks=str(trained["task"]),
        ledger_url=f"sqlite:///{tmp_path / 'warnings.db'}",
        mlflow_uri=f"sqlite:///{tmp_path / 'no-such-dir' / 'sub' / 'mlflow.db'}",
    )
    (tmp_path / "no-such-dir").write_text("a file where the registry's folder should be")
    with TestClient(create_app(away), headers={"X-API-Key": tokens["read"]}) as outage:
        ready = outage.get("/readyz").json()
        assert ready["ready"] and "local copy" in next(iter(ready["notices"].values()))
        served = outage.get("/v1/models").json()
        assert served["models"][0]["source"] == "cache" and served["models"][0]["version"] == "1"
        assert outage.get("/v1/risk").json()["items"]
    # a new champion (version 2 of the same model) is served without a restart
    registry = configure(Settings(home=trained["home"]).tracking())
    name = "citybrain-e2e_waterlogging"
    first = registry.get_model_version_by_alias(name, "champion")
    client, tokens = serve_trained(champion_poll_s=0.2)
    try:
        with client:
            reader = {"X-API-Key": tokens["read"]}
            assert client.get("/v1/models", headers=reader).json()["models"][0]["version"] == "1"
            second = registry.create_model_version(name, first.source, run_id=first.run_id)
            registry.set_registered_model_alias(name, "champion", second.version)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                answer = client.get("/v1/models", headers=reader)
                assert answer.status_code == 200
                if answer.json()["models"][0]["version"] == str(second.version):
                    break
                assert client.get("/v1/risk", headers=reader).status_code == 200
                time.sleep(0.2)
            assert answer.json()["models"][0]["version"] == str(second.version)
    finally:
        registry.set_registered_model_alias(name, "champion", first.version)


def test_each_request_is_logged_as_json_with_its_id_and_never_its_key(
    trained, tmp_path, capfd, serve_trained
):
    client, tokens = serve_trained()
    with client:
        reader = {"X-API-Key": tokens["read"]}
        client.get("/v1/risk", headers={**reader, "X-Request-ID": "dash-7"})
        client.get("/v1/warnings", headers=reader)
        client.get("/v1/risk/waterlogging/nope", headers=reader)
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    access = [x for x in lines if x.get("logger") == "citybrain.access"]
    assert [(x["route"], x["status"]) for x in access[-3:]] == [
        ("/v1/risk", 200),
        ("/v1/warnings", 200),
        ("/v1/risk/{domain}/{series_id}", 404),
    ]
    assert access[-3]["request_id"] == "dash-7" and all(x["request_id"] for x in access)
    assert all(x["key_id"] == tokens["read"].split("_")[1] for x in access[-3:])
    everything = json.dumps(lines)
    assert all(token not in everything for token in tokens.values())


def test_a_chunked_body_past_the_limit_is_refused_while_it_is_read(
    trained, tmp_path, serve_trained
):
    client, _ = serve_trained(max_body_bytes=100_000)

    def chunks():
        for _ in range(100):  # 1 MB in 10 kB chunks, no Content-Length
            yield b"[" + b" " * 10_000

    with client:
        answer = client.post(
            "/v1/observations", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 413 and "limit" in answer.json()["detail"]


def test_the_polls_answer_carries_cors_headers_for_a_configured_origin(
    trained, tmp_path, serve_trained
):
    client, tokens = serve_trained(cors_origins="https://ops.city.example")
    with client:
        origin = {"Origin": "https://ops.city.example", "X-API-Key": tokens["read"]}
        answer = client.get("/v1/risk", headers=origin)  # answered by the edge cache
        assert answer.status_code == 200 and answer.json()["items"]
        assert answer.headers["access-control-allow-origin"] == "https://ops.city.example"
        assert "ETag" in answer.headers["access-control-expose-headers"]
        other = client.get("/v1/risk", headers={**origin, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
