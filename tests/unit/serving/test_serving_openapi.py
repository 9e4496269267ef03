"""``/openapi.json`` documents what clients get: a response model on every route, the error
body on every error status a route can answer, and nothing built when the app is created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving import Settings, create_app

ROUTES = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/models"),
    ("post", "/v1/models/reload"),
    ("get", "/v1/risk"),
    ("get", "/v1/risk/{domain}/{series_id}"),
    ("post", "/v1/observations"),
    ("post", "/v1/events"),
    ("post", "/v1/forecasts"),
    ("get", "/v1/warnings"),
    ("get", "/v1/warnings/stream"),
    ("get", "/v1/warnings/cap"),
    ("get", "/v1/warnings/{warning_id}/cap"),
    ("get", "/v1/warnings/{warning_id}"),
    ("get", "/v1/warnings/{warning_id}/history"),
    ("post", "/v1/warnings/{warning_id}/ack"),
    ("post", "/v1/warnings/{warning_id}/resolve"),
    ("get", "/v1/silences"),
    ("post", "/v1/silences"),
    ("post", "/v1/silences/{silence_id}/expire"),
    ("get", "/v1/deliveries"),
    ("get", "/v1/deliveries/{delivery_id}"),
    ("post", "/v1/deliveries/{delivery_id}/retry"),
    ("post", "/v1/deliveries/retry"),
    ("get", "/v1/quarantine"),
    ("post", "/v1/quarantine/{batch_id}/release"),
    ("post", "/v1/quarantine/{batch_id}/discard"),
    ("get", "/metrics"),
    ("post", "/v1/scenarios"),
    ("get", "/v1/areas"),
    ("get", "/v1/series"),
    ("get", "/v1/levels"),
}
# Prometheus' text format, server-sent events, CAP and Atom XML: not JSON
TEXT_ROUTES = {
    ("get", "/metrics"),
    ("get", "/v1/warnings/stream"),
    ("get", "/v1/warnings/cap"),
    ("get", "/v1/warnings/{warning_id}/cap"),
}
PUBLIC = {("get", "/healthz"), ("get", "/readyz")}
REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("openapi") / "home"
    return create_app(Settings(home=home, tasks="")).openapi()


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m, p): op for p, ops in spec["paths"].items() for m, op in ops.items()}


def _schema(response: dict[str, Any]) -> dict[str, Any]:
    return response.get("content", {}).get("application/json", {}).get("schema", {})


def _refs(schema: dict[str, Any]) -> set[str]:
    options = schema.get("anyOf", [schema])
    return {o["$ref"].removeprefix(REF) for o in options if "$ref" in o}


def test_the_app_serves_exactly_the_routes_of_the_design(spec: dict[str, Any]) -> None:
    assert set(_operations(spec)) == ROUTES


def test_every_route_answers_a_named_model_with_properties(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for key, op in _operations(spec).items():
        if key in TEXT_ROUTES:
            continue
        ok = next(code for code in op["responses"] if code.startswith("2"))
        refs = _refs(_schema(op["responses"][ok]))
        assert len(refs) == 1, f"{key}: {ok} has no response model"
        (name,) = refs
        assert schemas[name].get("properties"), f"{key}: {name} documents no fields"


def test_every_route_but_the_health_checks_declares_the_api_key_and_its_refusals(
    spec: dict[str, Any],
) -> None:
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": spec["components"]["securitySchemes"]["APIKeyHeader"]["description"],
    }
    for key, op in _operations(spec).items():
        if key in PUBLIC:
            assert "security" not in op, key
            continue
        assert op["security"] == [{"APIKeyHeader": []}], key
        if key not in TEXT_ROUTES:
            assert {"401", "403", "429"} <= set(op["responses"]), key


def test_the_error_body_is_documented_with_its_kind_and_detail(spec: dict[str, Any]) -> None:
    error = spec["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "detail"}
    assert error["properties"]["error"]["type"] == "string"


@pytest.mark.parametrize(
    ("key", "status", "bodies"),
    [
        (("get", "/v1/risk"), "404", {"ErrorOut"}),
        (("get", "/v1/risk/{domain}/{series_id}"), "404", {"ErrorOut"}),
        (("get", "/v1/warnings/{warning_id}"), "404", {"ErrorOut"}),
        (("post", "/v1/warnings/{warning_id}/ack"), "404", {"ErrorOut"}),
        (("post", "/v1/warnings/{warning_id}/ack"), "422", {"ErrorOut", "RequestErrorOut"}),
        (("post", "/v1/observations"), "422", {"ErrorOut", "RequestErrorOut"}),
        (("post", "/v1/events"), "422", {"ErrorOut", "RequestErrorOut"}),
        (("post", "/v1/forecasts"), "422", {"ErrorOut", "RequestErrorOut"}),
    ],
)
def test_each_error_status_a_route_can_answer_is_documented_with_its_body(
    spec: dict[str, Any], key: tuple[str, str], status: str, bodies: set[str]
) -> None:
    response = _operations(spec)[key]["responses"][status]
    assert _refs(_schema(response)) == bodies
    assert response["description"]


def test_readiness_documents_its_503_with_the_same_body_as_its_200(spec: dict[str, Any]) -> None:
    responses = _operations(spec)[("get", "/readyz")]["responses"]
    assert _refs(_schema(responses["503"])) == _refs(_schema(responses["200"])) == {"ReadinessOut"}


def test_a_forecast_step_documents_q10_q50_q90_as_required_numbers(spec: dict[str, Any]) -> None:
    step = spec["components"]["schemas"]["ForecastStep"]
    assert {"ts", "horizon_min", "yhat", "q10", "q50", "q90"} <= set(step["required"])
    assert step["properties"]["q50"]["type"] == "number"
    assert step["additionalProperties"] == {"type": "number"}  # the task's other quantiles


def test_creating_the_app_and_its_openapi_touches_nothing_on_disk(tmp_path: Path) -> None:
    home = tmp_path / "home"
    app = create_app(Settings(home=home, ledger_url=f"sqlite:///{tmp_path / 'w.db'}"))
    app.openapi()
    assert list(tmp_path.iterdir()) == []
