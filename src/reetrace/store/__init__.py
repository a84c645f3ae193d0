"""The append-only store: one interface (:class:`Store`), a SQLite and a PostgreSQL backend."""

from __future__ import annotations

import os

from reetrace.store.base import Appender, Store

DEFAULT_URL = "sqlite:///reetrace.db"


def resolve_url(url: str | None) -> str:
    """The database URL: the argument, else ``REETRACE_DB``, else ``sqlite:///reetrace.db``."""
    return url or os.environ.get("REETRACE_DB") or DEFAULT_URL


def open_store(url: str | None = None, *, migrate: bool = True, lock_timeout: float | None = None) -> Store:
    """Open the store at ``url`` (SQLite file or PostgreSQL), creating or upgrading its schema.

    ``lock_timeout``: seconds a writer waits for another before raising :class:`reetrace.Busy`.
    """
    url = resolve_url(url)
    store: Store
    if url.startswith("sqlite"):
        from reetrace.store.sqlite import SqliteStore

        store = SqliteStore(url)
    elif url.startswith(("postgresql", "postgres:")):
        from reetrace.store.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://...")
    store.lock_timeout_s = lock_timeout
    if migrate:
        store.migrate()
    return store


__all__ = ["DEFAULT_URL", "Appender", "Store", "open_store", "resolve_url"]
