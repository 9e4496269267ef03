"""Fixtures for the serving layer's unit tests: the real app over a hand-sized city.

No champion is trained here (the integration tests spend minutes on that): the app serves no
domain, which is what the dependency, error and request-schema paths need, and every component
behind it (store, ledger, scorers, ingest) is the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features import TABLES, CityTables, Store
from serving import ROLES, KeyStore, Settings, create_app


@pytest.fixture
def settings(tmp_path: Path, tiny_city: CityTables) -> Settings:
    """The tiny city in a store of its own; ``tasks`` names a task that does not exist, so
    nothing is served and the reason is reported (without a slow registry lookup)."""
    store = Store(tmp_path / "data")
    for table in TABLES:
        store.write(table, getattr(tiny_city, table))
    return Settings(
        home=tmp_path / "home",
        data=tmp_path / "data",
        tasks="no-such-task",
        ledger_url=f"sqlite:///{tmp_path / 'warnings.db'}",
    )


@pytest.fixture
def tokens(settings: Settings) -> dict[str, str]:
    """One API key per role (and one revoked), made the way ``citybrain keys create`` does."""
    store = KeyStore(settings.keys)
    made = {role: store.create(f"{role} tester", [role])[1] for role in ROLES}
    revoked, token = store.create("former officer", ["officer"])
    store.revoke(revoked.id)
    made["revoked"] = token
    store.dispose()
    return made


@pytest.fixture
def client(settings: Settings, tokens: dict[str, str]) -> Iterator[TestClient]:
    """The app, calling with the admin's key unless a test sends another."""
    with TestClient(create_app(settings), headers={"X-API-Key": tokens["admin"]}) as c:
        yield c
