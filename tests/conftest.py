"""Fixtures shared by the suite: a store on each backend.

The ``store`` fixture runs a test twice: on a fresh SQLite file and on a throwaway PostgreSQL database
dropped afterwards. PostgreSQL is required: when the server cannot be reached the PostgreSQL tests
*fail*, unless REETRACE_SKIP_POSTGRES=1 is set on purpose (CI never sets it, so a skipped PostgreSQL
test cannot pass CI).

PostgreSQL databases are cloned from one template per test session: ``reetrace_tpl_<pid>_<random>`` is
created and migrated once, and each test gets ``CREATE DATABASE ... TEMPLATE`` of it (a file copy on the
server, no migrations). Names carry the pid and a random part because several people run the suite on
one server at once; the template and every clone are dropped at the end of the session, on failure too.
SQLite files are created from scratch per test, so the first-use migration stays exercised there.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from reetrace.store import Store, open_store

PG_ADMIN = os.environ.get("REETRACE_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_base() -> str:
    return PG_ADMIN.rsplit("/", 1)[0]


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _database(kind: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (empty, or a copy of ``template``), named uniquely per session (several
    people run the suite on one server at once), dropped afterwards even on failure; yields its name."""
    name = f"reetrace_{kind}_{os.getpid()}_{secrets.token_hex(6)}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    try:
        yield name
    finally:
        _drop(name)


def _require_pg(pg_available: bool) -> None:
    if not pg_available:
        pytest.skip("REETRACE_SKIP_POSTGRES=1")


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=5):
            return True
    except psycopg.OperationalError as exc:
        if os.environ.get("REETRACE_SKIP_POSTGRES") == "1":
            return False
        pytest.fail(f"PostgreSQL is required and not reachable at {PG_ADMIN}: {exc}")


@pytest.fixture(scope="session")
def pg_template(pg_available: bool) -> Iterator[str]:
    """The name of a migrated PostgreSQL database that every test's database is cloned from."""
    _require_pg(pg_available)
    with _database("tpl") as name:
        # Migrate it, then let go of every connection: a template must have none while it is copied.
        open_store(f"{_pg_base()}/{name}").dispose()
        yield name


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database with the schema at head and nothing recorded; dropped after the test."""
    with _database("test", template=pg_template) as name:
        yield f"{_pg_base()}/{name}"


@pytest.fixture
def blank_pg_url(pg_available: bool) -> Iterator[str]:
    """A PostgreSQL database with no schema at all (for migration and first-use tests); dropped after."""
    _require_pg(pg_available)
    with _database("blank") as name:
        yield f"{_pg_base()}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of a database without reetrace's schema, once per backend (``db_url`` is migrated)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.db'}"
    return str(request.getfixturevalue("blank_pg_url"))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database without the schema shared by one test module (the service's tests build one world
    on it and start one server), once per backend; dropped after the module."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module') / 'reetrace.db'}"
        return
    yield request.getfixturevalue("module_pg_url")


@pytest.fixture(scope="module")
def module_pg_url(pg_available: bool) -> Iterator[str]:
    _require_pg(pg_available)
    with _database("module") as name:
        yield f"{_pg_base()}/{name}"


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
