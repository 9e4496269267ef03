"""Who may call: every route in the OpenAPI document, walked with no key, a wrong key, a revoked
key and a key of each role; keys made, listed and revoked by ``citybrain keys``, stored hashed;
a rate limit per key; CORS only for configured origins."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from serving import ROLES, Guard, KeyStore, RateLimitedError, Settings, create_app, main

NEEDS = {
    ("get", "/v1/models"): "read",
    ("post", "/v1/models/reload"): "admin",
    ("get", "/v1/risk"): "read",
    ("get", "/v1/risk/{domain}/{series_id}"): "read",
    ("post", "/v1/observations"): "ingest",
    ("post", "/v1/events"): "ingest",
    ("post", "/v1/forecasts"): "ingest",
    ("get", "/v1/warnings"): "read",
    ("get", "/v1/warnings/stream"): "read",
    ("get", "/v1/warnings/cap"): "read",
    ("get", "/v1/warnings/{warning_id}/cap"): "read",
    ("get", "/v1/warnings/{warning_id}"): "read",
    ("get", "/v1/warnings/{warning_id}/history"): "read",
    ("post", "/v1/warnings/{warning_id}/ack"): "officer",
    ("post", "/v1/warnings/{warning_id}/resolve"): "officer",
    ("get", "/v1/silences"): "read",
    ("post", "/v1/silences"): "officer",
    ("post", "/v1/silences/{silence_id}/expire"): "officer",
    ("get", "/v1/deliveries"): "officer",
    ("get", "/v1/deliveries/{delivery_id}"): "officer",
    ("post", "/v1/deliveries/{delivery_id}/retry"): "admin",
    ("post", "/v1/deliveries/retry"): "admin",
    ("get", "/v1/quarantine"): "admin",
    ("post", "/v1/quarantine/{batch_id}/release"): "admin",
    ("post", "/v1/quarantine/{batch_id}/discard"): "admin",
    ("get", "/metrics"): "read",
    ("post", "/v1/scenarios"): "officer",
    ("get", "/v1/areas"): "read",
    ("get", "/v1/series"): "read",
    ("get", "/v1/levels"): "read",
}
GRANTS = {
    "read": {"read"},
    "ingest": {"ingest"},
    "officer": {"officer", "read"},
    "admin": set(ROLES),
}


def _call(client: TestClient, method: str, path: str, token: str | None) -> Any:
    url = path.format(domain="waterlogging", series_id="x", warning_id="x", silence_id="x",
                      batch_id="x", delivery_id="x")  # fmt: skip
    headers = {"X-API-Key": token} if token is not None else {"X-API-Key": ""}
    if method == "get":
        params = {"until_s": 0.1} if url.endswith("/stream") else None  # a stream ends soon
        return client.get(url, headers=headers, params=params)
    return client.post(url, json={}, headers=headers)


def test_every_route_of_the_openapi_document_is_walked_with_every_role(
    client: TestClient, tokens: dict[str, str]
) -> None:
    spec = client.get("/openapi.json").json()
    operations = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert operations - {("get", "/healthz"), ("get", "/readyz")} == set(NEEDS)
    for method, path in sorted(NEEDS):
        for name, token in (("none", None), ("wrong", "cbk_000000000000_nope"),
                            ("revoked", tokens["revoked"])):  # fmt: skip
            answer = _call(client, method, path, token)
            assert answer.status_code == 401, (method, path, name, answer.text)
            assert answer.json()["error"] == "AuthError"
        for role in ROLES:
            answer = _call(client, method, path, tokens[role])
            allowed = NEEDS[(method, path)] in GRANTS[role]
            if allowed:
                assert answer.status_code not in (401, 403), (method, path, role, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role, answer.text)
                assert NEEDS[(method, path)] in answer.json()["detail"]
    for public in ("/healthz", "/readyz"):
        assert _call(client, "get", public, None).status_code in (200, 503)


def test_keys_are_created_listed_and_revoked_by_the_command_and_stored_hashed(
    tmp_path: Path,
) -> None:
    env = {"CITYBRAIN_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    made = runner.invoke(main, ["keys", "create", "--name", "大屏", "--role", "read"], env=env)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    key_id = token.split("_")[1]
    listed = runner.invoke(main, ["keys", "list"], env=env)
    assert key_id in listed.output and "大屏" in listed.output and token not in listed.output
    bad = runner.invoke(main, ["keys", "create", "--name", "x", "--role", "root"], env=env)
    assert bad.exit_code != 0 and "root" in bad.output
    rows = sqlite3.connect(tmp_path / "home" / "warnings.db").execute("select * from api_keys")
    stored = " ".join(str(v) for row in rows for v in row)
    assert token.split("_", 2)[2] not in stored  # only the hash of the secret is kept
    store = KeyStore(f"sqlite:///{tmp_path / 'home' / 'warnings.db'}", refresh_s=0)
    assert store.verify(token) is not None
    revoked = runner.invoke(main, ["keys", "revoke", key_id], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert store.verify(token) is None
    unknown = runner.invoke(main, ["keys", "revoke", "nope"], env=env)
    assert unknown.exit_code != 0 and "no API key" in unknown.output


def test_a_key_past_its_rate_answers_429_with_retry_after(
    settings: Settings, tokens: dict[str, str]
) -> None:
    limited = settings.model_copy(update={"rate_limit": "3/minute"})
    with TestClient(create_app(limited), headers={"X-API-Key": tokens["read"]}) as client:
        codes = [client.get("/v1/warnings").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get("/v1/warnings")
        assert int(refused.headers["Retry-After"]) >= 1
        other = client.get("/v1/warnings", headers={"X-API-Key": tokens["officer"]})
        assert other.status_code == 200  # the limit is per key


def test_cors_answers_only_configured_origins(settings: Settings) -> None:
    allowed = settings.model_copy(update={"cors_origins": "https://ops.city.example"})
    with TestClient(create_app(allowed)) as client:
        ask = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        }
        ok = client.options("/v1/risk", headers={"Origin": "https://ops.city.example", **ask})
        assert ok.headers["access-control-allow-origin"] == "https://ops.city.example"
        other = client.options("/v1/risk", headers={"Origin": "https://evil.example", **ask})
        assert "access-control-allow-origin" not in other.headers


def test_replicas_sharing_redis_count_one_rate_per_key(tmp_path: Path) -> None:
    """Two servers' guards over one Redis (CITYBRAIN_RATE_LIMIT_STORAGE): the key's rate is
    spent across both, as replicas behind a load balancer would share it."""
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (.ci/run starts one)")
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    key, token = store.create("shared dashboard", ["read"])
    storage = "redis://127.0.0.1:6379/15"
    redis.Redis(host="127.0.0.1", port=6379, db=15).flushdb()
    one, two = Guard(store, "3/minute", storage), Guard(store, "3/minute", storage)
    for guard in (one, two, one):
        assert guard.check(token).id == key.id
    with pytest.raises(RateLimitedError):
        two.check(token)
