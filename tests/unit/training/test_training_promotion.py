"""Guarded promotion: the paired comparison, per-(fold, series) scores, the champion re-scored."""

from __future__ import annotations

import functools
import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features import CityTables, ConfigError, NotFoundError, PromotionSpec, TaskConfig, parse_task
from training.backtest import BacktestData, backtest_model, prepare_backtest
from training.promotion import (
    MIN_PAIRS,
    champion_scores_on,
    compare,
    paired_scores,
)

SPEC = PromotionSpec(margin=0.01, alpha=0.05)


def scores(values: list[float] | np.ndarray, *, series: int = 4) -> pl.DataFrame:
    """``fold, series_id, score`` with ``series`` series per fold, in order."""
    return pl.DataFrame(
        {
            "fold": [i // series for i in range(len(values))],
            "series_id": [f"s{i % series}" for i in range(len(values))],
            "score": [float(v) for v in values],
        }
    )


def champion_values(n: int = 16) -> np.ndarray:
    return np.random.default_rng(1).uniform(1.0, 3.0, n)


# --------------------------------------------------------------------------------------------
# compare


def test_a_clear_win_on_every_pair_is_promoted_with_the_numbers_in_the_reason():
    champ = champion_values()
    verdict = compare(scores(champ * 0.8), scores(champ), SPEC, metric="mae")
    assert verdict.promote
    assert verdict.pairs == 16
    assert verdict.p_value is not None and verdict.p_value < 0.001
    assert verdict.improvement == pytest.approx(0.2)
    assert verdict.reason.startswith("promoted: mean mae")
    assert "16 (fold, series) pairs" in verdict.reason
    assert "20.0% better" in verdict.reason
    assert "Wilcoxon" in verdict.reason and f"p = {verdict.p_value:.3g}" in verdict.reason


def test_a_consistent_gain_below_the_margin_is_not_promoted():
    champ = champion_values()
    verdict = compare(scores(champ * 0.995), scores(champ), SPEC)
    assert verdict.p_value is not None and verdict.p_value < SPEC.alpha  # significant, but small
    assert not verdict.promote
    assert "below the margin" in verdict.reason and "0.5% better" in verdict.reason


def test_a_noisy_tie_with_a_better_mean_is_not_promoted():
    champ = champion_values()
    noise = np.random.default_rng(2).normal(0.0, 0.6, champ.size)
    challenger = champ + noise - noise.mean() - 0.05 * champ.mean()  # mean 5 % better
    verdict = compare(scores(challenger), scores(champ), SPEC)
    assert verdict.improvement == pytest.approx(0.05)
    assert verdict.p_value is not None and verdict.p_value >= SPEC.alpha
    assert not verdict.promote
    assert "not significant" in verdict.reason


def test_identical_scores_are_no_improvement():
    champ = champion_values()
    verdict = compare(scores(champ), scores(champ), SPEC)
    assert not verdict.promote
    assert verdict.p_value == 1.0
    assert "no improvement" in verdict.reason and "no better" in verdict.reason


def test_a_worse_challenger_is_not_promoted():
    champ = champion_values()
    verdict = compare(scores(champ * 1.1), scores(champ), SPEC)
    assert not verdict.promote
    assert "no improvement" in verdict.reason and "10.0% worse" in verdict.reason


def test_without_a_champion_the_first_model_is_promoted():
    verdict = compare(scores([1.0, 2.0]), None, SPEC)
    assert verdict.promote
    assert "first model" in verdict.reason
    assert verdict.challenger_mean == pytest.approx(1.5)
    assert verdict.p_value is None


def test_too_few_pairs_fall_back_to_the_margin_and_say_so():
    champ = [1.0, 2.0, 3.0, 4.0]
    better = compare(scores([0.9, 1.8, 2.7, 3.6]), scores(champ), SPEC)
    assert better.promote and better.p_value is None and better.pairs == 4 < MIN_PAIRS
    assert "too few for a paired test" in better.reason
    within = compare(scores([0.999, 1.998, 2.997, 3.996]), scores(champ), SPEC)
    assert not within.promote and "below the margin" in within.reason


def test_pairs_are_matched_on_fold_and_series_and_missing_scores_are_left_out():
    champ = scores(champion_values(12))
    challenger = (
        champ.with_columns(pl.col("score") * 0.5)
        .sample(fraction=1.0, shuffle=True, seed=3)  # order must not matter
        .vstack(pl.DataFrame({"fold": [9], "series_id": ["extra"], "score": [0.0]}))
    )
    champ = champ.with_columns(
        pl.when(pl.col("series_id") == "s0")
        .then(float("nan"))
        .otherwise(pl.col("score"))
        .alias("score")
    )
    verdict = compare(challenger, champ, SPEC)
    assert verdict.pairs == 9
    assert verdict.improvement == pytest.approx(0.5)
    assert verdict.promote


def test_no_common_pair_is_not_promoted():
    verdict = compare(scores([1.0] * 8), scores([2.0] * 8).with_columns(fold=pl.lit(5)), SPEC)
    assert not verdict.promote and verdict.pairs == 0
    assert "cannot be compared" in verdict.reason


def test_verdict_metrics_leave_out_what_is_missing():
    assert compare(scores([1.0]), None, SPEC).metrics() == {
        "promotion_pairs": 0.0,
        "promotion_challenger_mean": 1.0,
    }


# --------------------------------------------------------------------------------------------
# paired_scores

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def test_paired_scores_are_the_primary_metric_per_fold_and_series():
    preds = pl.DataFrame(
        {
            "model": ["m"] * 6 + ["other"] * 2,
            "fold": [0, 0, 0, 1, 1, 1, 0, 1],
            "series_id": ["a", "a", "b", "a", "b", "b", "a", "a"],
            "origin": [T0] * 8,
            "horizon": [timedelta(hours=1)] * 8,
            "y": [1.0, 2.0, 0.0, 5.0, 1.0, None, 0.0, 0.0],
            "yhat": [2.0, 4.0, 1.0, 5.0, 3.0, 9.0, 0.0, 0.0],
        }
    )
    task = parse_task(
        {
            "name": "p",
            "domain": "waterlogging",
            "target": {"signal": "ponding_cm"},
            "frequency": "1h",
            "horizons": ["1h"],
            "model": {"family": "lightgbm"},
        }
    )
    out = paired_scores(preds, task, model="m")
    assert out.columns == ["fold", "series_id", "score"]
    assert out.rows() == [(0, "a", 1.5), (0, "b", 1.0), (1, "a", 0.0), (1, "b", 2.0)]
    with pytest.raises(ValueError, match="several models"):
        paired_scores(preds, task)


# --------------------------------------------------------------------------------------------
# the champion's configuration on the challenger's folds (tiny city, cheap families)

TINY_TASK = {
    "name": "promo",
    "domain": "waterlogging",
    "target": {"signal": "ponding_cm"},
    "frequency": "10m",
    "horizons": ["30m", "1h"],
    "features": {
        "target_lags": ["10m", "30m"],
        "target_maxes": ["1h"],
        "target_changes": [],
        "season_ref": "10m",
        "calendar": ["hour"],
    },
    "model": {"family": "historical_average"},
    "candidates": [{"family": "seasonal_naive", "name": "naive"}],
    "backtest": {"folds": 4, "fold_length": "6h", "origin_stride": "1h", "min_train": "1d"},
    "train": {"origin_stride": "1h"},
}


def tiny_task(**changes: object) -> TaskConfig:
    return parse_task({**TINY_TASK, **changes})


def with_noisy_ponding(city, seed: int = 5):
    """The tiny city's ponding is 0 outside its one burst; iid noise makes every fold score."""
    noise = np.random.default_rng(seed).gamma(1.0, 1.0, city.observations.height)
    pond = pl.col("series_id").str.starts_with("pond")
    return city.with_observations(
        city.observations.with_columns(
            pl.when(pond).then(pl.col("value") + noise).otherwise(pl.col("value")).alias("value")
        )
    )


@functools.cache
def tiny_city() -> CityTables:
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_citybrain_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return with_noisy_ponding(module.make_tiny_city(days=3, seed=0))


@functools.cache
def tiny_data() -> BacktestData:
    return prepare_backtest(tiny_city(), tiny_task())


def own_scores(data: BacktestData, label: str) -> pl.DataFrame:
    spec = {m.label: m for m in (data.task.model, *data.task.candidates)}[label]
    return paired_scores(pl.concat(list(backtest_model(data, spec))), data.task)


def test_the_same_config_rescored_gives_the_challengers_own_scores():
    data = tiny_data()
    mine = own_scores(data, "naive")
    assert mine.height == 8  # 4 folds x 2 ponding series
    assert (mine["score"] > 0).all()
    theirs = champion_scores_on(data, tiny_task().model_dump(mode="json"), "naive")
    assert theirs.equals(mine)


def test_a_champion_with_another_model_is_scored_on_the_same_pairs():
    data = tiny_data()
    champion = tiny_task(model={"family": "historical_average", "name": "climate"}, candidates=[])
    theirs = champion_scores_on(data, champion, "climate")
    mine = own_scores(data, "historical_average")
    assert theirs.select("fold", "series_id").equals(mine.select("fold", "series_id"))
    assert theirs["score"].to_list() == pytest.approx(mine["score"].to_list())


def test_an_ensemble_champion_is_rebuilt_from_its_members():
    data = tiny_data()
    champion = tiny_task(selection={"ensemble": True, "top": 2})
    out = champion_scores_on(data, champion, "ensemble")
    assert out.height == 8 and out["score"].is_finite().all()


def test_a_champion_with_other_features_is_rebuilt_from_the_tables_on_the_same_folds():
    data = tiny_data()
    features = {**TINY_TASK["features"], "target_lags": ["10m"], "target_maxes": []}
    champion = tiny_task(features=features)
    with pytest.raises(ConfigError, match="needs the city tables"):
        champion_scores_on(data, champion, "naive")
    out = champion_scores_on(data, champion, "naive", tables=tiny_city())
    assert out.select("fold", "series_id").equals(
        own_scores(data, "naive").select("fold", "series_id")
    )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": "other"}, "task 'other'"),
        ({"horizons": ["30m"]}, "horizons 30m"),
        ({"target": {"signal": "rain_mm"}}, "another target"),
    ],
)
def test_a_champion_for_something_else_cannot_be_compared(changes, match):
    with pytest.raises(ConfigError, match=match):
        champion_scores_on(tiny_data(), tiny_task(**changes), "naive")


def test_a_selected_label_missing_from_the_champions_config_is_reported():
    with pytest.raises(ConfigError, match="'lightgbm' is not among"):
        champion_scores_on(tiny_data(), tiny_task(), "lightgbm")


# --------------------------------------------------------------------------------------------
# the decision recorded in a (local SQLite) registry

MODEL = "citybrain-promo"


@pytest.fixture
def registry(tmp_path: Path):
    from training.tracking import TrackingSettings, configure

    settings = TrackingSettings(home=tmp_path / "home")
    return configure(settings), settings


def register(client, settings, task: TaskConfig, selected: str, params: dict | None = None) -> str:
    """A version whose run holds what training logs for promotion: task.yaml and ``selected``."""
    import mlflow
    import yaml

    from training.tracking import experiment_id

    config = settings.home / "task.yaml"
    config.write_text(yaml.safe_dump(task.model_dump(mode="json")))
    with mlflow.start_run(experiment_id=experiment_id(client, settings, task)) as run:
        mlflow.set_tag("selected", selected)
        mlflow.log_params(params or {})
        mlflow.log_artifact(str(config), artifact_path="config")
    if not client.search_registered_models(f"name = '{MODEL}'"):
        client.create_registered_model(MODEL)
    source = f"{run.info.artifact_uri}/model"
    return str(client.create_model_version(MODEL, source, run_id=run.info.run_id).version)


def test_decisions_are_recorded_and_a_rollback_returns_to_the_replaced_champion(registry):
    from training.promotion import CHAMPION_SCORES_ARTIFACT, decide_promotion, rollback

    client, settings = registry
    data, task = tiny_data(), tiny_task()
    naive = own_scores(data, "naive")

    v1 = register(client, settings, task, "naive")
    assert decide_promotion(client, MODEL, v1, naive, data, task) == (
        "champion",
        "first model of this task: no champion to compare with",
    )

    v2 = register(client, settings, task, "naive")
    better = naive.with_columns(pl.col("score") * 0.5)
    alias, reason = decide_promotion(client, MODEL, v2, better, data, task)
    assert alias == "champion" and reason.startswith("promoted: mean mae")
    assert "champion v1" in reason and "50.0% better" in reason
    tags = client.get_model_version(MODEL, v2).tags
    assert tags["previous_champion"] == "1" and tags["promoted_by"] == "citybrain train"
    run_id = client.get_model_version(MODEL, v2).run_id
    logged = pl.read_parquet(
        client.download_artifacts(run_id, CHAMPION_SCORES_ARTIFACT, str(settings.home / "dl"))
    )
    assert logged.equals(naive)  # the champion's config re-scored on the same folds
    metrics = client.get_run(run_id).data.metrics
    assert metrics["promotion_pairs"] == 8 and metrics["promotion_p_value"] < 0.05

    other = tiny_task(horizons=["30m"])
    v3 = register(client, settings, other, "naive")
    other_data = prepare_backtest(tiny_city(), other)
    alias, reason = decide_promotion(client, MODEL, v3, better, other_data, other)
    assert alias == "challenger"
    assert "champion v2 could not be re-scored" in reason and "horizons 30m, 1h" in reason
    assert "previous_champion" not in client.get_model_version(MODEL, v3).tags

    back = rollback(client, settings, MODEL, reason="alerts came late", by="carol")
    assert (back.version, back.previous) == ("1", "2")
    assert str(client.get_registered_model(MODEL).aliases["champion"]) == "1"
    with pytest.raises(NotFoundError, match="replaced no earlier champion"):
        rollback(client, settings, MODEL, reason="again", by="carol")


def test_the_champions_config_has_the_model_parameters_its_run_logged(registry):
    from training.promotion import champion_config

    client, settings = registry
    task = tiny_task(
        model={"family": "lightgbm", "params": {"n_estimators": 10, "target": "delta"}}
    )
    logged = {
        "model.n_estimators": "40",  # tuned: the YAML still says 10
        "model.lambda_l2": "1e-05",
        "model.target": "delta",
        "model.feature_fraction": "0.8",
        "family": "lightgbm",
    }
    version = register(client, settings, task, "naive", logged)
    config, selected = champion_config(client, client.get_model_version(MODEL, version))
    assert selected == "naive"
    assert config.model.params == {
        "n_estimators": 40,
        "lambda_l2": 1e-05,
        "target": "delta",
        "feature_fraction": 0.8,
    }
    assert config.candidates == task.candidates and config.features == task.features
