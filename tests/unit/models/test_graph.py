"""The graph family: adjacency from series attrs, and a pattern only a neighbour can tell."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from neural_frames import frame_of, spec_for
from polars.testing import assert_frame_equal

from features import ConfigError, DataError, TargetHistory, TaskConfig, parse_task
from models.graph import GraphForecaster, adjacency, default_graph_key, row_normalised

START = datetime(2025, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
LAG = 6  # a follower repeats its leader 6 steps (30 minutes) later
HORIZONS = (3, 6)  # 15 and 30 minutes: what the follower does next, its leader already did


def make_task(seed: int = 5) -> TaskConfig:
    return parse_task(
        {
            "name": "corridor",
            "domain": "traffic",
            "target": {"signal": "speed_kmh"},
            "frequency": "5m",
            "horizons": ["15m", "30m"],
            "features": {
                "observed": [
                    {
                        "name": "neighbours",
                        "signal": "speed_kmh",
                        "link": "members:upstream",
                        "level": True,
                    }
                ]
            },
            "model": {"family": "graph"},
            "train": {"seed": seed},
        }
    )


def series_table(ids: list[str], attrs: list[dict | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"series_id": ids, "attrs": [json.dumps(a) if a is not None else None for a in attrs]}
    )


def corridor_history(n_bins: int = 1400, seed: int = 0) -> TargetHistory:
    """Two leaders wander at random; each follower repeats its leader ``LAG`` steps later and
    lists it under ``upstream``. A follower's own past cannot tell its next half hour."""
    rng = np.random.default_rng(seed)
    leaders = []
    for _ in range(2):
        shocks = rng.normal(0, 1.0, n_bins + LAG)
        walk = np.zeros(n_bins + LAG)
        for t in range(1, n_bins + LAG):
            walk[t] = 0.9 * walk[t - 1] + shocks[t]
        leaders.append(50 + 4 * walk)
    rows = [
        leaders[0][LAG:],
        leaders[1][LAG:],
        leaders[0][:n_bins] + rng.normal(0, 0.2, n_bins),
        leaders[1][:n_bins] + rng.normal(0, 0.2, n_bins),
    ]
    ids = ("lead-a", "lead-b", "follow-a", "follow-b")
    series = series_table(
        list(ids), [{}, {"name": "b"}, {"upstream": ["lead-a"]}, {"upstream": ["lead-b"]}]
    )
    return TargetHistory(np.array(rows), ids, START, STEP, series)


SMALL = {
    "epochs": 12,
    "hidden": 32,
    "context": "1h",
    "patience": 12,
    "learning_rate": 5e-3,
    "epoch_samples": 512,
    "batch_size": 16,
}


@pytest.fixture(scope="module")
def corridor() -> tuple[TaskConfig, TargetHistory, pl.DataFrame, pl.DataFrame]:
    hist = corridor_history()
    return (
        make_task(),
        hist,
        frame_of(hist, 20, 1100, HORIZONS),
        frame_of(hist, 1150, 1380, HORIZONS),
    )


def follower_mae(model: GraphForecaster, hist: TargetHistory, test: pl.DataFrame) -> float:
    out = model.predict(test, hist).join(
        test.select("series_id", "origin", "horizon", "y"),
        on=["series_id", "origin", "horizon"],
    )
    rows = out.filter(pl.col("series_id").str.starts_with("follow"))
    return float((rows["y"] - rows["yhat"]).abs().mean())


@pytest.fixture(scope="module")
def fitted(corridor) -> GraphForecaster:
    task, hist, train, _ = corridor
    return GraphForecaster(task=task, spec=spec_for(task, hist), **SMALL).fit(train, hist)


def test_adjacency_follows_the_listed_ids() -> None:
    series = series_table(
        ["a", "b", "c", "d"],
        [
            {"neighbours": ["b", "c", "ghost"]},
            {"neighbours": ["b"]},  # itself: self loops come from normalisation
            {"neighbours": "a", "other": ["d"]},
            None,
        ],
    )
    a = adjacency(series, ("a", "b", "c", "d"), "neighbours")
    assert a.tolist() == [
        [0.0, 1.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
    norm = row_normalised(a)
    assert np.allclose(norm.sum(axis=1), 1.0)
    assert norm[0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])
    assert norm[1].tolist() == [0.0, 1.0, 0.0, 0.0]
    # nodes are in the order given, not the table's
    assert adjacency(series, ("c", "a"), "neighbours").tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_no_graph_attributes_give_the_identity() -> None:
    series = series_table(["a", "b"], [{}, {"rain_gauge": "r"}])
    assert np.array_equal(row_normalised(adjacency(series, ("a", "b"), "neighbours")), np.eye(2))
    bare = pl.DataFrame({"series_id": ["a", "b"]})
    assert np.array_equal(row_normalised(adjacency(bare, ("a", "b"), "neighbours")), np.eye(2))


def test_broken_attrs_name_the_series() -> None:
    with pytest.raises(DataError, match="series b"):
        adjacency(
            series_table(["a"], [{}]).vstack(
                pl.DataFrame({"series_id": ["b"], "attrs": ["{not json"]})
            ),
            ("a", "b"),
            "neighbours",
        )


def test_the_graph_key_comes_from_the_tasks_members_link(corridor) -> None:
    task, hist, _, _ = corridor
    assert default_graph_key(task) == "upstream"
    assert GraphForecaster(task=task, spec=spec_for(task, hist)).graph_key == "upstream"
    chosen = GraphForecaster(task=task, spec=spec_for(task, hist), graph_key="neighbours")
    assert chosen.graph_key == "neighbours"
    with pytest.raises(ConfigError, match="graph_steps"):
        GraphForecaster(task=task, spec=spec_for(task, hist), graph_steps=-1)
    with pytest.raises(ConfigError, match="allowed"):
        GraphForecaster(task=task, spec=spec_for(task, hist), hops=2)


def test_the_graph_tells_a_follower_what_its_leader_did(corridor, fitted) -> None:
    task, hist, train, test = corridor
    assert fitted.adjacency_ is not None and fitted.adjacency_[2, 0] == 1.0
    alone = GraphForecaster(task=task, spec=spec_for(task, hist), **SMALL, graph_key="nothing").fit(
        train, hist
    )
    assert np.array_equal(alone.adjacency_, np.zeros((4, 4)))
    with_graph, without = follower_mae(fitted, hist, test), follower_mae(alone, hist, test)
    assert with_graph < 0.6 * without, (with_graph, without)


def test_a_forecast_reads_no_history_after_its_origin(corridor, fitted) -> None:
    _, hist, _, test = corridor
    cut_bin = 1250
    spoiled = hist.values.copy()
    spoiled[:, cut_bin + 1 :] = 1e3
    dirty = TargetHistory(spoiled, hist.series_ids, hist.start, hist.step, hist.series)
    early = test.filter(pl.col("origin") <= START + cut_bin * STEP)
    assert_frame_equal(fitted.predict(early, dirty), fitted.predict(early, hist))


def test_the_same_seed_gives_the_same_model_and_pickles(corridor, fitted) -> None:
    task, hist, train, test = corridor
    again = GraphForecaster(task=task, spec=spec_for(task, hist), **SMALL).fit(train, hist)
    assert_frame_equal(again.predict(test, hist), fitted.predict(test, hist), check_exact=True)
    loaded = pickle.loads(pickle.dumps(fitted))
    assert_frame_equal(loaded.predict(test, hist), fitted.predict(test, hist), check_exact=True)


def test_rows_for_a_subset_of_series_and_unknown_series(corridor, fitted) -> None:
    _, hist, _, test = corridor
    full = fitted.predict(test, hist)
    one = test.filter(pl.col("series_id") == "follow-b")
    assert_frame_equal(fitted.predict(one, hist), full.filter(pl.col("series_id") == "follow-b"))
    with pytest.raises(DataError, match="not fitted"):
        fitted.predict(one.with_columns(pl.lit("elsewhere").alias("series_id")), hist)
