"""The whole product through its outside: CLI -> MLflow -> real HTTP server -> warning delivered.

The ``trained`` fixture (conftest) simulates a short storm period, holds back the storm's last
hours and trains a small waterlogging task through ``citybrain train``. Here ``citybrain serve``
runs as a real uvicorn process with a webhook pointing at a real local HTTP receiver; the storm's
observations are posted and the warning must arrive.
"""

from __future__ import annotations

import polars as pl
from live_server import live_server, post_until, wait_for


def test_training_prints_backtest_of_model_and_baseline_and_registers_a_champion(trained):
    from training import TrackingSettings, load_champion

    loaded = load_champion(TrackingSettings(home=trained["home"]), "e2e_waterlogging")
    model, version = loaded.model, loaded.version
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


ROSTER = """
renotify: {blue: 60m, yellow: 30m, orange: 15m, red: 10m}
rosters:
  - domain: "*"
    tiers:
      - {name: 值班员, contacts: [{name: 张伟, channels: [webhook]}]}
      - {name: 值班领导, after: 2s, contacts: [{name: 李强, channels: [webhook]}]}
"""


def test_a_storm_posted_to_a_real_server_delivers_a_warning_to_the_webhook(
    trained, ledger_url, tmp_path
):
    """The duty officer's whole workflow over HTTP on a real server, on either ledger: the
    storm opens a warning that reaches the webhook, nobody acknowledges so the next tier is
    paged, an officer acknowledges, silences the area and resolves, and the history says so."""
    roster = trained["home"] / "roster.yaml"
    roster.write_text(ROSTER, encoding="utf-8")
    with live_server(
        home=trained["home"],
        city=trained["data"],
        workdir=tmp_path,
        tasks=[trained["task"]],
        ledger_url=ledger_url,
        roster=roster,
    ) as (client, receiver):
        assert client.get("/v1/models").json()["models"][0]["version"] == "1"
        held = trained["held"].filter(
            pl.col("series_id").str.starts_with("ponding")
            | pl.col("series_id").str.starts_with("rain")
            | pl.col("series_id").str.starts_with("level")
        )
        post_until(client, held, lambda: receiver.received)
        assert wait_for(lambda: receiver.received), "no warning reached the webhook"
        first = receiver.received[0]
        assert first["action"] == "opened"
        assert first["domain"] == "waterlogging"
        assert "预警" in first["message_zh"]

        listed = client.get("/v1/warnings", params={"status": "open"}).json()["warnings"]
        assert any(w["id"] == first["id"] for w in listed)
        risk = client.get("/v1/risk", params={"domain": "waterlogging"}).json()
        assert risk["items"] and {"q10", "q50", "q90"} <= set(risk["items"][0]["forecast"][0])
        # nobody acknowledges: the shift leader is paged (after 2 s in this roster)
        assert wait_for(
            lambda: any(
                m["action"] == "paged" and m["id"] == first["id"] for m in receiver.received
            )
        )
        paged = [m for m in receiver.received if m["action"] == "paged"]
        assert paged and paged[0]["tier"] == "值班领导" and paged[0]["contacts"] == ["李强"]
        assert paged[0]["message_zh"].startswith("【已升级至值班领导")
        ack = client.post(f"/v1/warnings/{first['id']}/ack", json={"note": "on my way"})
        assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
        silence = client.post(
                "/v1/silences",
                json={"matchers": {"area_id": first["area_id"]}, "hours": 1,
                      "comment": "crews on site"},
            )  # fmt: skip
        assert silence.status_code == 201 and silence.json()["state"] == "active"
        done = client.post(
            f"/v1/warnings/{first['id']}/resolve",
            json={"note": "pumped dry"},
        )
        assert done.status_code == 200 and done.json()["status"] == "closed"
        history = client.get(f"/v1/warnings/{first['id']}/history").json()["history"]
        actions = [h["action"] for h in history]
        assert actions[0] == "opened" and actions[-2:] == ["acknowledged", "resolved"]
        assert "paged" in actions and history[-1]["actor"] == "integration test"
        # the area is silenced: the resolution is recorded but not sent
        assert history[-1]["silenced_by"] == silence.json()["id"]
