"""Property-based tests of the service from its published OpenAPI (schemathesis, bounded examples):
no 5xx, and every response matches its documented status, content type and schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reetrace.tlog import generate_key
from tests.service_helpers import Server, World, build_world, start_server

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def schema_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, World]]:
    db = f"sqlite:///{tmp_path_factory.mktemp('schema') / 'reetrace.db'}"
    world = build_world(db)
    key = tmp_path_factory.mktemp("schema-key") / "log.key"
    generate_key(key, "reetrace.test/schema")  # receipts and the public checkpoint are in the contract too
    srv = start_server(db, max_upload_mb=1, lock_timeout=0.5, log_key=key)
    try:
        yield srv, world
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api(schema_world: tuple[Server, World]) -> schemathesis.BaseSchema:
    srv, _ = schema_world
    schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    schema.config.update(base_url=srv.url)
    return schema


def test_the_api_keeps_its_published_contract(
    api: schemathesis.BaseSchema, schema_world: tuple[Server, World]
) -> None:
    """Every operation of /openapi.json, MAX_EXAMPLES generated requests each (schemathesis's pytest
    plugin does not run under pytest 9, so the operations are walked here with Hypothesis directly)."""
    _, world = schema_world
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for op in operations:
        role = "inspector" if op.method.upper() == "GET" else "admin"

        @given(case=op.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)  # fmt: skip
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {world.tokens[role]}"},  # noqa: B023 - run at once
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
                timeout=60,
            )

        run()


def test_openapi_and_docs_are_published(schema_world: tuple[Server, World]) -> None:
    import httpx

    srv, _ = schema_world
    spec = httpx.get(f"{srv.url}/openapi.json", timeout=30).json()
    assert "/v1/submissions" in spec["paths"] and spec["components"]["securitySchemes"]
    assert httpx.get(f"{srv.url}/docs", timeout=30).status_code == 200
    assert Path(__file__).exists()
