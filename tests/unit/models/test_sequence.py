"""The sequence family and the shared neural pieces, on small generated series."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from neural_frames import frame_of, spec_for
from polars.testing import assert_frame_equal

from features import ConfigError, DataError, TargetHistory, TaskConfig, parse_task
from models.neural import torch_threads
from models.neural_data import FeatureScaler, SeriesScaler
from models.neural_layers import QuantileHead, pinball_loss
from models.neural_params import context_steps
from models.sequence import SequenceForecaster

START = datetime(2025, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
HORIZONS = (3, 6)  # 30 minutes and 1 hour
PERIOD = 24  # steps


def make_task(**train: object) -> TaskConfig:
    return parse_task(
        {
            "name": "wave",
            "domain": "traffic",
            "target": {"signal": "speed_kmh"},
            "frequency": "10m",
            "horizons": ["30m", "1h"],
            "quantiles": [0.1, 0.5, 0.9],
            "model": {"family": "sequence"},
            "train": {"seed": 3, **train},
        }
    )


def wave_history(n_series: int = 4, n_bins: int = 900, seed: int = 0) -> TargetHistory:
    """Daily-like waves with a different phase and level per series, plus a little noise:
    the next hour is plain from the last few hours, and far from the current value."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_bins)
    rows = [
        40 + 5 * s + 12 * np.sin(2 * np.pi * t / PERIOD + s) + rng.normal(0, 0.5, n_bins)
        for s in range(n_series)
    ]
    ids = tuple(f"road-{s}" for s in range(n_series))
    series = pl.DataFrame({"series_id": list(ids), "attrs": [json.dumps({})] * n_series})
    return TargetHistory(np.array(rows), ids, START, STEP, series)


SMALL = {"epochs": 25, "hidden": 32, "context": "4h", "patience": 25, "learning_rate": 5e-3}


@pytest.fixture(scope="module")
def wave() -> tuple[TaskConfig, TargetHistory, pl.DataFrame, pl.DataFrame]:
    task = make_task()
    hist = wave_history()
    train = frame_of(hist, 30, 600, HORIZONS)
    test = frame_of(hist, 650, 880, HORIZONS)
    return task, hist, train, test


@pytest.fixture(scope="module")
def fitted(wave) -> SequenceForecaster:
    task, hist, train, _ = wave
    model = SequenceForecaster(task=task, spec=spec_for(task, hist), **SMALL)
    return model.fit(train, hist.until(START + 606 * STEP))


def test_it_learns_a_wave_that_persistence_cannot_follow(wave, fitted) -> None:
    _, hist, _, test = wave
    out = fitted.predict(test, hist).join(
        test.select("series_id", "origin", "horizon", "y", "target_now"),
        on=["series_id", "origin", "horizon"],
    )
    model_mae = (out["y"] - out["yhat"]).abs().mean()
    naive_mae = (out["y"] - out["target_now"]).abs().mean()
    assert model_mae < 0.4 * naive_mae, (model_mae, naive_mae)
    inside = ((out["y"] >= out["q10"]) & (out["y"] <= out["q90"])).mean()
    assert inside >= 0.6


def test_a_forecast_reads_no_history_after_its_origin(wave, fitted) -> None:
    _, hist, _, test = wave
    cut_bin = 700
    spoiled = hist.values.copy()
    spoiled[:, cut_bin + 1 :] = 1e3
    dirty = TargetHistory(spoiled, hist.series_ids, hist.start, hist.step, hist.series)
    early = test.filter(pl.col("origin") <= START + cut_bin * STEP)
    assert_frame_equal(fitted.predict(early, dirty), fitted.predict(early, hist))
    # ... and the history up to the origin does matter
    spoiled_before = hist.values.copy()
    spoiled_before[:, cut_bin - 5 : cut_bin] += 20.0
    shifted = TargetHistory(spoiled_before, hist.series_ids, hist.start, hist.step, hist.series)
    at_cut = test.filter(pl.col("origin") == START + cut_bin * STEP)
    assert not fitted.predict(at_cut, shifted)["yhat"].equals(fitted.predict(at_cut, hist)["yhat"])


def test_the_same_seed_gives_the_same_model(wave) -> None:
    task, hist, train, test = wave
    small = {**SMALL, "epochs": 2}
    runs = [
        SequenceForecaster(task=task, spec=spec_for(task, hist), **small)
        .fit(train, hist)
        .predict(test, hist)
        for _ in range(2)
    ]
    assert_frame_equal(runs[0], runs[1], check_exact=True)
    other = make_task(seed=4)
    third = (
        SequenceForecaster(task=other, spec=spec_for(other, hist), **small)
        .fit(train, hist)
        .predict(test, hist)
    )
    assert not third["yhat"].equals(runs[0]["yhat"])


def test_fitting_leaves_the_global_torch_state_alone(wave) -> None:
    task, hist, train, _ = wave
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SequenceForecaster(task=task, spec=spec_for(task, hist), **{**SMALL, "epochs": 1}).fit(
        train, hist
    )
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_the_tcn_encoder_fits_and_round_trips_through_pickle(wave) -> None:
    task, hist, train, test = wave
    model = SequenceForecaster(
        task=task, spec=spec_for(task, hist), **{**SMALL, "epochs": 2, "encoder": "tcn"}
    ).fit(train, hist)
    again = pickle.loads(pickle.dumps(model))
    assert_frame_equal(again.predict(test, hist), model.predict(test, hist), check_exact=True)


def test_parameters_are_checked_and_context_sets_the_history_span(wave) -> None:
    task, hist, _, _ = wave
    spec = spec_for(task, hist)
    with pytest.raises(ConfigError, match=r"allowed: .*epochs"):
        SequenceForecaster(task=task, spec=spec, n_estimators=5)
    with pytest.raises(ConfigError, match="encoder"):
        SequenceForecaster(task=task, spec=spec, encoder="transformer")
    with pytest.raises(ConfigError, match="context"):
        SequenceForecaster(task=task, spec=spec, context="soon")
    with pytest.raises(ConfigError, match="epochs"):
        SequenceForecaster(task=task, spec=spec, epochs=0)
    with pytest.raises(ConfigError, match="dropout"):
        SequenceForecaster(task=task, spec=spec, dropout=1.0)
    with pytest.raises(ConfigError, match="learning_rate"):
        SequenceForecaster(task=task, spec=spec, learning_rate="fast")
    model = SequenceForecaster(task=task, spec=spec, context="95m")
    assert model.steps == 10 and model.history_span == timedelta(minutes=100)
    assert model.params()["context"] == "95m"


def test_it_needs_a_history(wave) -> None:
    task, hist, train, _ = wave
    with pytest.raises(DataError, match="history"):
        SequenceForecaster(task=task, spec=spec_for(task, hist)).fit(train, None)


def test_context_is_rounded_up_to_whole_steps() -> None:
    assert context_steps("1h", STEP) == 6
    assert context_steps("61m", STEP) == 7
    assert context_steps(None, STEP) == 24


def test_pinball_loss_matches_the_definition() -> None:
    pred = torch.tensor([[0.0, 1.0, 2.0]])
    target = torch.tensor([1.5])
    qs = torch.tensor([0.1, 0.5, 0.9])
    # (0.1 * 1.5 + 0.5 * 0.5 + 0.1 * 0.5) / 3
    expected = (0.15 + 0.25 + 0.05) / 3
    assert float(pinball_loss(pred, target, qs, torch.ones(1))) == pytest.approx(expected)


def test_the_quantile_head_never_crosses_and_starts_at_no_change() -> None:
    head = QuantileHead(4, (0.05, 0.1, 0.5, 0.9, 0.95))
    assert torch.all(head(torch.randn(7, 4))[:, 2] == 0)
    torch.nn.init.normal_(head.linear.weight)
    out = head(torch.randn(50, 4))
    assert torch.all(out[:, 1:] >= out[:, :-1])


def test_series_scales_have_a_floor_for_series_that_barely_move() -> None:
    values = np.array([[0.0, 0.0, 0.0, np.nan], [0.0, 10.0, 0.0, 10.0]])
    hist = TargetHistory(values, ("a", "b"), START, STEP, pl.DataFrame({"series_id": ["a", "b"]}))
    scaler = SeriesScaler.fit(hist)
    assert scaler.loc.tolist() == [0.0, 5.0]
    assert scaler.scale[1] == pytest.approx(5.0)
    assert scaler.scale[0] == pytest.approx(0.25 * np.nanstd(values))
    with pytest.raises(DataError, match="not fitted on series"):
        scaler.index(["c"])


def test_features_are_standardised_with_missing_flags() -> None:
    rows = pl.DataFrame({"a": [1.0, 3.0, None], "b": [2.0, 2.0, 2.0]})
    scaler = FeatureScaler.fit(rows, ("a", "b"))
    x = scaler.transform(rows)
    assert x.shape == (3, 3)  # a, b and a's missing flag
    assert x[:, 0].tolist() == [-1.0, 1.0, 0.0]
    assert x[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert x[:, 2].tolist() == [0.0, 0.0, 1.0]


def test_clock_columns_also_get_their_phase() -> None:
    rows = pl.DataFrame({"cal_hour": [0, 6, 23], "x": [1.0, 2.0, 3.0]})
    scaler = FeatureScaler.fit(rows, ("cal_hour", "x"))
    x = scaler.transform(rows)
    assert x.shape == (3, 4) == (3, scaler.width)
    assert x[:, 2] == pytest.approx(np.sin(2 * np.pi * np.array([0, 6, 23]) / 24), abs=1e-6)
    assert x[:, 3] == pytest.approx(np.cos(2 * np.pi * np.array([0, 6, 23]) / 24), abs=1e-6)


def test_torch_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads() as n:
        assert torch.get_num_threads() == n >= 1
    assert torch.get_num_threads() == before
