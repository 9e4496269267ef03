"""Schemathesis against ``/openapi.json`` of a real server (uvicorn over the trained champion):
every route, with no key and a key of each role, on a short budget. No answer is a 5xx, and
every answer (refusals included) matches the status codes, headers and bodies the document
declares. A schema-valid body may still be refused with 422 (an unknown series, a reading out of
its range: the data contract is stricter than JSON Schema can say), so that one check is off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import live_server, role_keys
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving import ROLES

TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzz_schema(trained: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    root = tmp_path_factory.mktemp("fuzz")
    ledger = f"sqlite:///{root / 'warnings.db'}"
    TOKENS.update(role_keys(ledger, {role: f"fuzz {role}" for role in ROLES}))
    TOKENS["none"] = ""
    with live_server(
        home=trained["home"],
        city=trained["data"],
        workdir=root,
        tasks=[trained["task"]],
        ledger_url=ledger,
    ) as (client, _):
        yield schemathesis.openapi.from_url(f"{str(client.base_url).rstrip('/')}/openapi.json")


def test_every_route_and_role_answers_within_its_schema_and_never_5xx(
    fuzz_schema: schemathesis.BaseSchema,
) -> None:
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def calls(case: schemathesis.Case) -> None:
            if case.path.endswith("/stream"):  # a stream runs until_s: keep it short here
                case.query = {**(case.query or {}), "until_s": 0.2}
            for role in ("none", *ROLES):
                case.call_and_validate(
                    headers={"X-API-Key": TOKENS[role]}, excluded_checks=[positive_data_acceptance]
                )

        calls()
