"""The bench's modules, loaded from their files (``experiments/bench`` is not a package, and its
``features.py`` must not shadow the ``features`` package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "experiments" / "bench"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def bench():
    """``experiments/bench/accuracy.py``."""
    yield from _load(BENCH / "accuracy.py", "accuracy_bench")


@pytest.fixture(scope="module")
def sel():
    """``experiments/bench/accuracy_selection.py``."""
    yield from _load(BENCH / "accuracy_selection.py", "accuracy_selection")
