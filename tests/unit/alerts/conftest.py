"""Fixtures for the alerts tests: a fresh SQLite ledger per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts import Ledger


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger' / 'warnings.db'}"


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    led = Ledger(db_url)
    yield led
    led.dispose()
