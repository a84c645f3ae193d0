"""Least privilege on PostgreSQL: an owner role that owns the schema, a writer role that can only read
and append.

* **owner** (``NOLOGIN`` by default): owns every table, view, trigger function and the lock function.
  Only the owner (or a superuser) can drop or disable a trigger, redefine a view, or alter a table;
  migrations run as the owner (``SET ROLE``) or as a superuser.
* **writer**: ``USAGE`` on the schema, ``SELECT, INSERT`` on the tables, ``SELECT`` on the views,
  ``EXECUTE`` on ``reetrace_lock_log()`` (how it takes the log's write lock without UPDATE rights; see
  :mod:`reetrace.store.postgres`). It cannot UPDATE, DELETE or TRUNCATE, drop or disable a trigger,
  redefine a view, or set ``session_replication_role`` (which only a superuser may set). What the
  writer cannot do, neither can the submit path or the HTTP service running as it.

The writer is created ``NOLOGIN``: the DBA grants it to the login role the service uses
(``GRANT reetrace_writer TO svc``) or gives it ``LOGIN`` and a password. A superuser can of course still
do anything; that is what the transparency log (checkpoints, witnesses) is for.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.store.schema import metadata

DEFAULT_OWNER = "reetrace_owner"
DEFAULT_WRITER = "reetrace_writer"
VIEWS = (
    "current_groups", "current_enterprises", "current_sites", "current_quotas",
    "effective_events", "effective_lots", "effective_inputs", "effective_edges",
)  # fmt: skip
FUNCTIONS = ("reetrace_refuse()", "reetrace_lock_log()")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _check(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"role name {name!r}: use lower-case letters, digits and _ (max 63)")
    return name


def roles_sql(owner: str = DEFAULT_OWNER, writer: str = DEFAULT_WRITER, *, create: bool = True) -> list[str]:
    """The statements that set up the two roles on a migrated reetrace database (run by a superuser
    or a role with CREATEROLE that owns the objects)."""
    o, w = _check(owner), _check(writer)
    tables = [*sorted(metadata.tables), "alembic_version"]
    out: list[str] = []
    if create:
        out += [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{r}') THEN "
            f"CREATE ROLE {r} NOLOGIN; END IF; END $$"
            for r in (o, w)
        ]
    out += [f'ALTER TABLE "{t}" OWNER TO {o}' for t in tables]
    out += [f'ALTER VIEW "{v}" OWNER TO {o}' for v in VIEWS]
    out += [f"ALTER FUNCTION {f} OWNER TO {o}" for f in FUNCTIONS]
    out += [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {w}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {w}",
        *(f'GRANT SELECT, INSERT ON "{t}" TO {w}' for t in tables if t != "alembic_version"),
        f'GRANT SELECT ON "alembic_version" TO {w}',
        *(f'GRANT SELECT ON "{v}" TO {w}' for v in VIEWS),
        f"GRANT EXECUTE ON FUNCTION reetrace_lock_log() TO {w}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO {w}",
    ]
    return out


def create_roles(conn: Connection, owner: str = DEFAULT_OWNER, writer: str = DEFAULT_WRITER) -> None:
    """Run :func:`roles_sql` in ``conn``'s transaction (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        raise ValueError("roles exist on PostgreSQL only; a SQLite file is protected by file permissions")
    for stmt in roles_sql(owner, writer):
        conn.execute(sa.text(stmt))
