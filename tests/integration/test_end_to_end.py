"""The whole product through its outside: CLI -> MLflow -> real HTTP server -> warning delivered.

The ``trained`` fixture (conftest) simulates a short storm period, holds back the storm's last
hours and trains a small waterlogging task through ``citybrain train``. Here ``citybrain serve``
runs as a real uvicorn process with a webhook pointing at a real local HTTP receiver; the storm's
observations are posted and the warning must arrive.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import polars as pl

from serving import WebhookReceiver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_training_prints_backtest_of_model_and_baseline_and_registers_a_champion(trained):
    from training import TrackingSettings, load_champion

    model, version = load_champion(TrackingSettings(home=trained["home"]), "e2e_waterlogging")
    assert version == "1"
    assert model.task.name == "e2e_waterlogging"
    assert "rain_gauge_sum_1h" in model.spec.columns


def test_the_registered_model_loads_as_a_plain_mlflow_pyfunc_with_a_signature(trained):
    import mlflow.pyfunc

    from training import TrackingSettings, configure

    configure(TrackingSettings(home=trained["home"]))
    loaded = mlflow.pyfunc.load_model("models:/citybrain-e2e_waterlogging@champion")
    assert "rain_gauge_sum_1h" in loaded.metadata.signature.inputs.input_names()
    example = loaded.input_example
    out = loaded.predict(example)
    assert len(out) == len(example)
    assert (out["q10"] <= out["q90"]).all()


def test_a_storm_posted_to_a_real_server_delivers_a_warning_to_the_webhook(trained):
    port = _free_port()
    receiver = WebhookReceiver().start()
    env = {
        **os.environ,
        "CITYBRAIN_HOME": str(trained["home"]),
        "CITYBRAIN_TASKS": str(trained["task"]),
        "CITYBRAIN_DISPATCH_INTERVAL_S": "0.2",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving",
            "serve",
            "--port",
            str(port),
            "--data",
            str(trained["data"]),
            "--webhook",
            receiver.url,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=api, timeout=60) as client:
            _wait_ready(client, server)
            assert client.get("/v1/models").json()["models"][0]["version"] == "1"
            held = trained["held"].filter(
                pl.col("series_id").str.starts_with("ponding")
                | pl.col("series_id").str.starts_with("rain")
                | pl.col("series_id").str.starts_with("level")
            )
            steps = held.partition_by("ts", maintain_order=True)
            for batch in sorted(steps, key=lambda b: b["ts"][0]):
                rows = [
                    {"series_id": r["series_id"], "ts": r["ts"].isoformat(), "value": r["value"]}
                    for r in batch.iter_rows(named=True)
                ]
                answer = client.post("/v1/observations", json={"observations": rows})
                assert answer.status_code == 200, answer.text
                if receiver.received:
                    break
            deadline = time.monotonic() + 20
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.2)
            assert receiver.received, "no warning reached the webhook during the storm"
            first = receiver.received[0]
            assert first["action"] == "opened"
            assert first["domain"] == "waterlogging"
            assert "预警" in first["message_zh"]

            listed = client.get("/v1/warnings", params={"status": "open"}).json()["warnings"]
            assert any(w["id"] == first["id"] for w in listed)
            risk = client.get("/v1/risk", params={"domain": "waterlogging"}).json()
            assert risk["items"] and {"q10", "q50", "q90"} <= set(risk["items"][0]["forecast"][0])
            ack = client.post(f"/v1/warnings/{first['id']}/ack", json={"by": "duty officer Lin"})
            assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    finally:
        server.terminate()
        server.wait(timeout=10)
        receiver.stop()


def _wait_ready(client: httpx.Client, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            out = server.stdout.read().decode() if server.stdout else ""
            raise AssertionError(f"server exited early:\n{out}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready within 90 s")
