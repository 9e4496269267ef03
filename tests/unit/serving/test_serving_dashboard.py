"""The dashboard's page and files are served by the app itself, without a key (the data it
reads needs one); only named files, and a clear 503 when ``npm ci`` has not run."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving import Settings, create_app
from serving.routes.dashboard import NODE_MODULES


def test_the_page_and_its_files_are_served_without_a_key(client: TestClient) -> None:
    page = client.get("/", headers={"X-API-Key": ""})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text
    for name in ("app.js", "strings.js", "style.css"):
        found = client.get(f"/static/{name}", headers={"X-API-Key": ""})
        assert found.status_code == 200, name
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")


def test_only_the_pages_own_files_and_named_libraries_are_served(client: TestClient) -> None:
    for path in (
        "/static/nope.js",
        "/static/..%2Froutes%2Fdashboard.py",
        "/static/.hidden.js",
        "/vendor/echarts/package.json",
        "/vendor/../../pyproject.toml",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path


def test_the_page_and_its_routes_stay_out_of_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/static/{name}", "/vendor/{name}"} & set(paths)


@pytest.mark.skipif(
    not (NODE_MODULES / "echarts").is_dir(), reason="npm ci has not run (scripts/install runs it)"
)
def test_the_libraries_come_from_node_modules(client: TestClient) -> None:
    echarts = client.get("/vendor/echarts.min.js")
    assert echarts.status_code == 200 and "echarts" in echarts.text[:2000]
    module = client.get("/vendor/fetch-event-source/index.js")
    assert "from './fetch'" in module.text
    assert (
        client.get("/vendor/fetch-event-source/fetch")
        .headers["content-type"]
        .startswith("text/javascript")
    )


def test_without_npm_ci_a_library_answers_503_saying_what_to_run(
    settings: Settings, tmp_path: Path
) -> None:
    bare = settings.model_copy(update={"node_modules": tmp_path / "empty"})
    with TestClient(create_app(bare)) as client:
        answer = client.get("/vendor/echarts.min.js")
    assert answer.status_code == 503
    assert answer.json()["error"] == "AssetsMissingError"
    assert "npm ci" in answer.json()["detail"]
