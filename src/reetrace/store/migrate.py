"""Schema migrations with Alembic, run in-process: ``reetrace init`` and the first use of a store.

Two things matter beyond running Alembic:

- **Start-up cost.** Importing Alembic costs ~0.15 s, more than a small submission. A store that is
  already at :data:`HEAD` is recognised with one plain query of ``alembic_version``; Alembic is
  imported only when there is something to do. A test checks that :data:`HEAD` is Alembic's head.
- **Concurrent first use.** Several processes opening a new database at once must not all create the
  schema (PostgreSQL failed with ``UniqueViolation pg_type_typname_nsp_index``, SQLite with "database is
  locked"). The upgrade runs under the backend's migration lock (:meth:`Store.migration_lock`) and
  looks at the revision again once it holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from reetrace.store.base import Store

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest revision in ``migrations/versions`` (a test keeps it equal to Alembic's head).
HEAD = "0008"


def _config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _revision(conn: Connection) -> str | None:
    """The revision recorded in the database, or None for a database without reetrace's schema."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _revision(conn)


def store_revision(store: Store) -> str | None:
    """The schema revision of a store's database."""
    return current(store.engine)


def newest() -> str | None:
    """Alembic's head revision, read from the migration scripts."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(_config()).get_current_head()
    return head


def upgrade(store: Store) -> None:
    """Upgrade to the newest revision; does nothing (and takes no lock) when already there."""
    if current(store.engine) == HEAD:
        return
    with store.migration_lock() as conn:
        if _revision(conn) == HEAD:  # another process migrated while we waited for the lock
            return
        run_upgrade(conn)


def run_upgrade(conn: Connection) -> None:
    """Run every migration up to the head on ``conn`` (in its open transaction, if any). ``verify``
    also runs them on a scratch database or schema, to learn what the schema objects must be."""
    from alembic import command

    cfg = _config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
