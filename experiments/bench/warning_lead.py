"""Warnings ahead of the water: the model's event skill against the rate-of-rise rule.

For each dataset, the task's rolling-origin backtest (the product's own ``run_backtest``), and
per level and horizon H its lead skill (``training.metrics.lead_skill``: at origins not yet at
the level, "reaches it within H"; episodes warned ahead, at onset, missed; lead quartiles) for
the model and for the rate-of-rise rule scored by the same code on the same origins. The aim
(the warnings-ahead issue): CSI at least 1.5x the rule's, FAR no higher, median lead at least
half the horizon.

Datasets: ``walnut`` (USGS Walnut Creek stage, ``../shared/data/walnut-creek-usgs``),
``floodnet`` (NYC FloodNet street floods, ``../shared/data/nyc-floodnet``, rebuilt by the
``floodnet`` adapter; each real dataset skipped with a reason where absent), and the simulated
city's ``rivers`` and ``waterlogging`` (150 days, two typhoons, generated in the run). Results go
to ``results/warning_lead.md``.

    .venv/bin/python experiments/bench/warning_lead.py                 # all four (~6 min)
    .venv/bin/python experiments/bench/warning_lead.py --only walnut --no-record
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would shadow the ``features`` package with features.py.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime  # noqa: E402

import citysim  # noqa: E402
from features import (  # noqa: E402
    AdapterOptions,
    CityTables,
    Store,
    TaskConfig,
    ingest_format,
    load_task,
)
from training import BacktestResult, print_backtest, run_backtest  # noqa: E402

sys.path.append(str(_HERE))
from accuracy_data import DATASETS, ingest  # noqa: E402
from accuracy_peers import backtest_plan  # noqa: E402
from machine_info import machine  # noqa: E402
from validate import before  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data"
RESULTS = HERE / "results" / "warning_lead.md"


def _walnut(work: Path) -> tuple[CityTables, TaskConfig] | str:
    if not (SHARED / "walnut-creek-usgs").is_dir():
        return f"no {SHARED / 'walnut-creek-usgs'}"
    store = work / "walnut"
    ingest(DATASETS["walnut-stage"], store, SHARED)
    return CityTables.from_store(Store(store)), load_task(HERE / "tasks/walnut-creek-warning.yaml")


def _floodnet(work: Path) -> tuple[CityTables, TaskConfig] | str:
    folder = SHARED / "nyc-floodnet"
    if not folder.is_dir():
        return f"no {folder}"
    store = work / "floodnet"
    options = AdapterOptions(start=FLOODNET_START)
    ingest_format(Store(store), "floodnet", [folder], options)
    return CityTables.from_store(Store(store)), load_task(HERE / "tasks/floodnet-warning.yaml")


# FloodNet rebuilt from here on (its 8 most flood-prone sensors since)
FLOODNET_START = "2025-01-01"
_CITY: dict[str, CityTables] = {}
# the demo's and the README's city: 150 days from 2025-05-01 with two typhoons
TYPHOONS = ("2025-07-20T06:00", "2025-09-10T12:00")


def _city() -> CityTables:
    if "city" not in _CITY:
        _CITY["city"] = CityTables(
            **citysim.simulate(
                days=150,
                seed=7,  # citybrain simulate's default: the demo's city
                start=date(2025, 5, 1),
                typhoons=[datetime.fromisoformat(t) for t in TYPHOONS],
            )
        )
    return _CITY["city"]


def _simulated(task: str) -> tuple[CityTables, TaskConfig]:
    return _city(), load_task(task)


def before_evaluation(tables: CityTables, task: TaskConfig) -> CityTables:
    """The tables cut at the task's first evaluated origin: a backtest on them evaluates the
    weeks before the evaluation windows, where a change is chosen before it is reported."""
    return before(tables, backtest_plan(tables, task).folds[0].start)


def rows(name: str, result: BacktestResult) -> list[str]:
    """One markdown row per level and horizon: model against rule."""
    out = []
    model = result.lead_skill.get("model", {})
    rule = result.lead_skill.get("rule", {})
    for level, skills in model.items():
        for m, r in zip(skills, rule.get(level, []), strict=True):
            h = int(m.horizon.total_seconds() // 60)
            ratio = m.csi / r.csi if r.csi and r.csi == r.csi else float("nan")
            lead_m = m.median_lead_min
            lead_r = r.median_lead_min
            aims = [
                ratio >= 1.5,
                m.far <= r.far or m.far != m.far,
                lead_m is not None and lead_m >= h / 2,
            ]
            met = (
                "yes"
                if all(aims)
                else "no ("
                + ", ".join(w for w, ok in zip(("CSI", "FAR", "lead"), aims, strict=True) if not ok)
                + ")"
            )
            out.append(
                f"| {name} | {level} | {h} min | {m.csi:.2f} | {r.csi:.2f} | {ratio:.2f} | "
                f"{m.far:.2f} | {r.far:.2f} | {m.pod:.2f} | {r.pod:.2f} | "
                f"{m.ahead}/{m.at_onset}/{m.missed} | {r.ahead}/{r.at_onset}/{r.missed} | "
                f"{'-' if lead_m is None else f'{lead_m:.0f}'} | "
                f"{'-' if lead_r is None else f'{lead_r:.0f}'} | {met} |"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", choices=["walnut", "floodnet", "rivers", "waterlogging"], action="append"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    names = args.only or ["walnut", "floodnet", "rivers", "waterlogging"]
    table: list[str] = []
    notes: list[str] = []
    timings: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            real = {"walnut": _walnut, "floodnet": _floodnet}
            got = real[name](Path(tmp)) if name in real else _simulated(name)
            if isinstance(got, str):
                notes.append(f"{name}: skipped ({got})")
                print(f"{name}: skipped ({got})")
                continue
            tables, task = got
            t0 = time.perf_counter()
            result = run_backtest(tables, task)
            timings.append(f"{name} {time.perf_counter() - t0:.0f} s")
            print_backtest(result)
            table += rows(name, result)
            sparse = [s.column for s in result.sparse]
            if sparse:
                notes.append(f"{name}: mostly-empty feature columns {sparse}")
            travel = [
                f"{t} <- {m} {d}"
                for cov in result.task.features.observed
                if isinstance(cov.travel, dict)
                for t, links in cov.travel.items()
                for m, d in links.items()
            ]
            if travel:
                notes.append(f"{name}: estimated travel times " + "; ".join(travel))
    head = (
        "| dataset | level | H | CSI model | CSI rule | x rule | FAR model | FAR rule | POD model "
        "| POD rule | ahead/onset/missed model | ahead/onset/missed rule | median lead model (min) "
        "| median lead rule (min) | aim met |\n|" + "---|" * 15
    )
    load = os.getloadavg()[0]
    text = "\n".join(
        [
            "# Warnings ahead of the water: model vs the rate-of-rise rule",
            "",
            f"Machine: {machine(('polars', 'polars'), ('lightgbm', 'lightgbm'))}; "
            f"load {load:.1f} at the end; {', '.join(timings)}.",
            "",
            head,
            *table,
            "",
            *(f"- {n}" for n in notes),
            "",
        ]
    )
    print(text)
    if not args.no_record:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"recorded {RESULTS}")


if __name__ == "__main__":
    main()
