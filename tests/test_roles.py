"""Least privilege on PostgreSQL: the writer role appends through the store but cannot rewrite, delete,
truncate, touch a trigger or a view, or switch triggers off with session_replication_role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from reetrace.cli import main
from reetrace.store import open_store
from reetrace.store.roles import create_roles, roles_sql
from reetrace.store.verify import verify
from tests.helpers import BAYAN_OBO, ev, load_registry, out, submit_events

pytestmark = pytest.mark.postgres


@pytest.fixture
def roles(pg_url: str) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:10]
    owner, writer = f"rt_owner_{suffix}", f"rt_writer_{suffix}"
    try:
        yield owner, writer
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for r in (owner, writer):
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (r,)).fetchone():
                    conn.execute(f"REASSIGN OWNED BY {r} TO CURRENT_USER")
                    conn.execute(f"DROP OWNED BY {r}")
                    conn.execute(f"DROP ROLE {r}")


def as_user(url: str, user: str) -> str:
    return url.replace("postgres@", f"{user}@", 1)


def test_writer_can_append_and_nothing_else(pg_url: str, roles: tuple[str, str], tmp_path: Path) -> None:
    owner, writer = roles
    admin = open_store(pg_url)
    try:
        load_registry(admin)
        with admin.engine.begin() as conn:
            create_roles(conn, owner, writer)
            conn.exec_driver_sql(f"ALTER ROLE {writer} LOGIN")
    finally:
        admin.dispose()

    store = open_store(as_user(pg_url, writer))
    try:
        r = submit_events(store, tmp_path, "MINE", "2025-03", [
            ev("m1", "extract", "MINE", "BO", "2025-03-02",
               outputs=[out("ORE1", "concentrate", 1000, reo_pct=50, elements=BAYAN_OBO)]),
        ])  # fmt: skip
        assert r.new_events == 1
        verify(store)
    finally:
        store.dispose()

    attempts = [
        "UPDATE log SET kind = kind",
        "DELETE FROM events",
        "TRUNCATE merkle_nodes",
        "ALTER TABLE log DISABLE TRIGGER USER",
        "DROP TRIGGER log_append_only ON log",
        "CREATE OR REPLACE VIEW current_enterprises AS SELECT * FROM enterprises",
        "DROP VIEW effective_edges",
        "SET session_replication_role = replica",
        "CREATE TABLE public.log2 (x int)",
        "ALTER FUNCTION reetrace_refuse() RENAME TO x",
    ]
    with psycopg.connect(as_user(pg_url, writer), autocommit=True) as conn:
        for sql in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        assert conn.execute("SELECT count(*) FROM log").fetchone() is not None


def test_roles_sql_for_a_dba_and_the_cli() -> None:
    sql = roles_sql("own", "wri")
    assert 'GRANT SELECT, INSERT ON "log" TO wri' in sql
    assert not any("UPDATE" in s or "DELETE" in s for s in sql)
    out = CliRunner().invoke(main, ["init", "--print-roles-sql", "--owner-role", "o1", "--writer-role", "w1"])
    assert out.exit_code == 0 and 'ALTER TABLE "merkle_nodes" OWNER TO o1;' in out.output
    with pytest.raises(ValueError, match="role name"):
        roles_sql("Robert'); DROP TABLE log;--")
