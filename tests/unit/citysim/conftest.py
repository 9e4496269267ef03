"""One small simulated city shared by the citysim tests: six July days with a forced typhoon."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import citysim

LANDFALL = dt.datetime(2025, 7, 4, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def landfall() -> dt.datetime:
    return LANDFALL


@pytest.fixture(scope="session")
def city() -> dict[str, pl.DataFrame]:
    return citysim.simulate(days=6, seed=7, start=dt.date(2025, 7, 1), typhoons=[LANDFALL])


@pytest.fixture(scope="session")
def obs(city: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Observations with their signal."""
    return city["observations"].join(
        city["series"].select("series_id", "signal"), on="series_id", how="left"
    )
