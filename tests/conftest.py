"""Fixtures shared by the suite: a store on each backend, and small helpers to fill it.

The ``store`` fixture runs a test twice: on a fresh SQLite file and on a throwaway PostgreSQL database
created on the local server and dropped afterwards. PostgreSQL is required: when the server cannot be
reached the PostgreSQL tests *fail*, unless REETRACE_SKIP_POSTGRES=1 is set on purpose (CI never sets
it, so a skipped PostgreSQL test cannot pass CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reetrace.store import Store, open_store

PG_ADMIN = os.environ.get("REETRACE_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_base() -> str:
    return PG_ADMIN.rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=5):
            return True
    except psycopg.OperationalError as exc:
        if os.environ.get("REETRACE_SKIP_POSTGRES") == "1":
            return False
        pytest.fail(f"PostgreSQL is required and not reachable at {PG_ADMIN}: {exc}")


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped after the test."""
    if not pg_available:
        pytest.skip("REETRACE_SKIP_POSTGRES=1")
    name = f"reetrace_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_pg_base()}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reetrace.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty store, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reetrace.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.dispose()
