"""Shared test set-up: every test runs with its own citybrain home so that runs never mix."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "citybrain-home"
    monkeypatch.setenv("CITYBRAIN_HOME", str(home))
    return home


@pytest.fixture
def shared_data() -> Path:
    """The real public datasets beside the project; tests using them are marked ``realdata``."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the project)")
    return SHARED_DATA
