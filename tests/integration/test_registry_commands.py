"""The registry through the command line: guarded promotion on training, promote, rollback, models.

A tiny simulated city (``make_tiny_city``) and a tiny LightGBM task are trained twice with
``citybrain train``: the first version becomes champion, the identical second one is scored
against the champion's configuration re-backtested on the same folds and stays challenger.
A person then promotes and rolls back by hand; tags and the audit trail are read back through
``MlflowClient``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from features import Store
from serving import main

TASK = """
name: registry_tiny
domain: waterlogging
target: {signal: ponding_cm}
frequency: 10m
horizons: [30m, 1h]
features:
  target_lags: [10m, 30m]
  target_maxes: [1h]
  target_changes: []
  season_ref: 10m
  calendar: [hour]
  observed:
    - {name: rain_gauge, signal: rain_mm, link: rain_gauge, sums: [30m, 1h]}
model:
  family: lightgbm
  params: {n_estimators: 15, learning_rate: 0.1, min_child_samples: 5, num_leaves: 7}
baseline: {family: seasonal_naive}
train: {origin_stride: 30m}
backtest: {folds: 4, fold_length: 6h, origin_stride: 1h, min_train: 1d}
"""
NAME = "citybrain-registry_tiny"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, noisy_tiny_city) -> dict:
    """Two identical trainings of the tiny task; their CLI outputs."""
    root = tmp_path_factory.mktemp("registry")
    data, home, task = root / "data", root / "home", root / "registry_tiny.yaml"
    task.write_text(TASK)
    store = Store(data)
    tables = noisy_tiny_city
    for table in ("series", "observations", "events", "weather_forecasts", "areas"):
        store.write(table, getattr(tables, table))
    env = {"CITYBRAIN_HOME": str(home)}
    runner = CliRunner()
    outputs = []
    for _ in range(2):
        result = runner.invoke(main, ["train", "--data", str(data), "--task", str(task)], env=env)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    return {"home": home, "task": task, "env": env, "outputs": outputs}


def client_of(registry: dict):
    from training import TrackingSettings, configure

    return configure(TrackingSettings(home=registry["home"]))


def cli(registry: dict, *args: str):
    return CliRunner().invoke(main, list(args), env=registry["env"])


def aliases(client) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def scores_of(client, version: str, artifact: str, tmp_path: Path) -> pl.DataFrame:
    run_id = client.get_model_version(NAME, version).run_id
    return pl.read_parquet(client.download_artifacts(run_id, artifact, str(tmp_path)))


def test_an_identical_second_training_is_registered_but_not_promoted(registry, tmp_path):
    first, second = registry["outputs"]
    assert f"registered {NAME} v1 as champion: first model" in first
    assert f"registered {NAME} v2 as challenger: not promoted, no improvement" in second

    client = client_of(registry)
    assert aliases(client) == {"champion": "1", "challenger": "2"}
    v1, v2 = (client.get_model_version(NAME, v).tags for v in ("1", "2"))
    assert v1["promotion"] == "champion" and "previous_champion" not in v1
    assert v2["promotion"] == "challenger"
    reason = v2["promotion_reason"]
    assert "no improvement" in reason and "champion v1" in reason
    assert "8 (fold, series) pairs" in reason and "Wilcoxon signed-rank p = 1" in reason
    for tags in (v1, v2):
        assert tags["promoted_by"] == "citybrain train"
        assert datetime.fromisoformat(tags["promoted_at"]).utcoffset().total_seconds() == 0

    # what was compared is kept with the run: the champion's config re-scored on v2's folds
    mine = scores_of(client, "2", "backtest/paired_scores.parquet", tmp_path / "a")
    champion = scores_of(client, "2", "backtest/champion_paired_scores.parquet", tmp_path / "b")
    first_scores = scores_of(client, "1", "backtest/paired_scores.parquet", tmp_path / "c")
    assert mine.columns == ["fold", "series_id", "score"] and mine.height == 8
    assert (mine["score"] > 0).all()
    assert champion.equals(mine) and first_scores.equals(mine)
    metrics = client.get_run(client.get_model_version(NAME, "2").run_id).data.metrics
    assert metrics["promotion_pairs"] == 8 and metrics["promotion_p_value"] == 1.0


def test_bad_registry_input_exits_2_with_one_line(registry):
    task = str(registry["task"])
    cases = [
        (["promote", "--task", "no-such-task", "--version", "1", "--reason", "x"], "no task"),
        (["promote", "--task", task, "--version", "9", "--reason", "x"], "no version 9"),
        (["promote", "--task", task, "--version", "two", "--reason", "x"], "positive number"),
        (["promote", "--task", task, "--version", "2"], "--reason: a reason is required"),
        (["promote", "--task", task, "--version", "2", "--reason", "  "], "reason is required"),
        (["rollback", "--task", task], "reason is required"),
        (["models", "--task", "no-such-task"], "no task"),
    ]
    for args, message in cases:
        result = cli(registry, *args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.output)
        assert message in lines[0], (args, lines[0])


def test_promote_and_rollback_round_trip_is_tagged_and_audited(registry):
    from training import REGISTRY_EXPERIMENT, TrackingSettings, load_champion

    task = str(registry["task"])
    client = client_of(registry)
    assert aliases(client)["champion"] == "1"

    again = cli(registry, "promote", "--task", task, "--version", "1", "--reason", "x")
    assert again.exit_code == 2 and "already the champion" in again.output

    promoted = cli(
        registry,
        "promote",
        "--task",
        task,
        "--version",
        "v2",
        "--reason",
        "storm check",
        "--by",
        "alice",
    )
    assert promoted.exit_code == 0, promoted.output
    assert "v2 is champion (was v1); by alice: storm check" in promoted.output
    assert aliases(client) == {"champion": "2"}  # not challenger too
    v2 = client.get_model_version(NAME, "2").tags
    assert v2["promotion"] == "champion" and v2["previous_champion"] == "1"
    assert (
        v2["promoted_by"] == "alice" and v2["promotion_reason"] == "promoted by hand: storm check"
    )
    assert load_champion(TrackingSettings(home=registry["home"]), "registry_tiny").version == "2"

    back = cli(registry, "rollback", "--task", task, "--reason", "alerts came late", "--by", "bob")
    assert back.exit_code == 0, back.output
    assert "v1 is champion again (rolled back from v2)" in back.output
    assert aliases(client) == {"champion": "1"}
    v1, v2 = (client.get_model_version(NAME, v).tags for v in ("1", "2"))
    assert v1["promoted_by"] == "bob" and v1["promotion_reason"].endswith("alerts came late")
    assert "by bob, back to v1: alerts came late" in v2["rolled_back"]

    stuck = cli(registry, "rollback", "--task", task, "--reason", "again")
    assert stuck.exit_code == 2
    assert "replaced no earlier champion" in stuck.output

    exp = client.get_experiment_by_name(REGISTRY_EXPERIMENT)
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    trail = [
        {
            k: r.data.tags[k]
            for k in ("kind", "action", "model", "version", "previous_version", "by")
        }
        for r in runs
    ]
    assert trail == [
        {"kind": "registry-action", "action": "promote", "model": NAME, "version": "2",
         "previous_version": "1", "by": "alice"},
        {"kind": "registry-action", "action": "rollback", "model": NAME, "version": "1",
         "previous_version": "2", "by": "bob"},
    ]  # fmt: skip
    assert runs[0].data.tags["reason"] == "storm check"

    table = cli(registry, "models", "--task", task)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].startswith(f"{NAME} at sqlite:") and "2 versions" in lines[0]
    assert "mae" in lines[1] and "promoted by" in lines[1]
    row1 = next(line for line in lines if line.strip().startswith("v1 "))
    row2 = next(line for line in lines if line.strip().startswith("v2 "))
    assert "champion" in row1 and "bob" in row1 and "rolled back from v2" in row1
    assert "alice" in row2 and "promoted by hand: storm check" in row2
    assert "Manual actions, latest first:" in table.output
    assert "rollback v1 (was v2) by bob: alerts came late" in table.output
