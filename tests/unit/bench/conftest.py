"""The bench's modules (``experiments/bench`` is not a package): found at the end of
``sys.path``, after the ``features`` package, which its ``features.py`` must not shadow."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

import features  # noqa: F401  (imported before the bench folder joins the path)

BENCH = Path(__file__).resolve().parents[3] / "experiments" / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))


@pytest.fixture(scope="module")
def bench():
    """``experiments/bench/accuracy.py`` (the script: ours, the runs and the record)."""
    spec = importlib.util.spec_from_file_location("accuracy_bench", BENCH / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def peers():
    return importlib.import_module("accuracy_peers")


@pytest.fixture(scope="module")
def metrics():
    return importlib.import_module("accuracy_metrics")


@pytest.fixture(scope="module")
def sel():
    return importlib.import_module("accuracy_selection")
