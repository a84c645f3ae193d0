"""The append-only store: one interface (:class:`Store`), a SQLite and a PostgreSQL backend."""

from __future__ import annotations

import os

from reetrace.errors import NoStore
from reetrace.store.base import Appender, Store

DEFAULT_URL = "sqlite:///reetrace.db"


def resolve_url(url: str | None) -> str:
    """The database URL: the argument, else ``REETRACE_DB``, else ``sqlite:///reetrace.db``.

    An empty string is not "no argument": it is refused by :func:`open_store` (a ``--db ""`` that
    silently meant ``./reetrace.db`` wrote somewhere the user did not say).
    """
    if url is not None:
        return url
    return os.environ.get("REETRACE_DB") or DEFAULT_URL


def check_url(url: str) -> None:
    """Refuse URLs that cannot hold a store the user would get back: empty, in-memory SQLite."""
    if not url.strip():
        raise ValueError("empty database URL: give sqlite:///FILE or postgresql://USER@HOST/DB")
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            raise ValueError(
                f"{url!r} is an in-memory SQLite database: everything would be lost when the "
                "command ends; give a file, e.g. sqlite:///reetrace.db"
            )


def open_store(
    url: str | None = None,
    *,
    migrate: bool = True,
    create: bool = True,
    lock_timeout: float | None = None,
    read_only: bool = False,
) -> Store:
    """Open the store at ``url`` (SQLite file or PostgreSQL), creating or upgrading its schema.

    With ``create=False`` the database must already hold a reetrace schema (a SQLite file that
    exists and was initialised, a PostgreSQL database with the schema), else :class:`NoStore`:
    reading commands use it so that a mistyped path is an error, not a new empty store.
    ``lock_timeout``: seconds a writer waits for another before raising :class:`reetrace.Busy`.
    ``read_only``: a replica, only read from: never migrated (its schema comes from the primary), never
    appended to, and not connected to until the first read (a replica that is down when the service
    starts is an error of each read, :class:`reetrace.Unavailable`, not of the start).
    """
    url = resolve_url(url)
    check_url(url)
    store: Store
    if url.startswith("sqlite"):
        from reetrace.store.sqlite import SqliteStore, sqlite_path

        if not create and not sqlite_path(url).is_file():
            raise NoStore(f"no reetrace store at {url}: {sqlite_path(url)} does not exist "
                          "(create one with `reetrace init`)")  # fmt: skip
        store = SqliteStore(url)
    elif url.startswith(("postgresql", "postgres:")):
        from reetrace.store.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://...")
    store.lock_timeout_s = lock_timeout
    if read_only:
        store.read_only = True
        return store
    if not create and not store.has_schema():
        store.dispose()
        raise NoStore(f"no reetrace store at {url}: the database has no reetrace schema "
                      "(create one with `reetrace init`)")  # fmt: skip
    if migrate:
        store.migrate()
    return store


__all__ = ["DEFAULT_URL", "Appender", "Store", "check_url", "open_store", "resolve_url"]
