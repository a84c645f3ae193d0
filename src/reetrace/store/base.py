"""The store interface: one class, a backend subclass per database.

Writers append through :meth:`Store.appending`, a context manager that opens one transaction, takes the
backend's write lock (so positions are assigned and committed strictly in order: a reader never sees a
position that a slower transaction fills in later), reads the head of the chain, and hands out an
:class:`Appender`. Everything appended in the block commits together or not at all.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reetrace.errors import Refused, StoreError
from reetrace.store import chain
from reetrace.store.dialect import Dialect
from reetrace.store.schema import log

Row = tuple[Any, ...]


class Appender:
    """Assigns positions, links the chain and buffers rows; flushes them in batches.

    On backends that allow it, ``flush(wait=False)`` writes in a background thread so that the caller
    can parse and validate the next batch while the database ingests this one (the driver releases the
    GIL while it waits on the server). Anything that touches the connection calls :meth:`join` first.
    """

    def __init__(self, store: Store, conn: Connection, position: int, head: bytes) -> None:
        self.store = store
        self.conn = conn
        self.position = position  # last assigned position
        self.head = head  # link of the last assigned position
        self._buffers: dict[sa.Table, list[Row]] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def append(self, kind: str, record: bytes, **extra: int | str) -> int:
        """Append one record to the log (buffered) and return its position."""
        self.position += 1
        framed = chain.frame(kind, self.position, record, **extra)
        self.head = chain.link(self.head, framed)
        self.add(log, (self.position, kind, framed, self.head))
        return self.position

    def append_event(self, record: bytes, line: int, submission: int) -> int:
        """:meth:`append` for an event record (the frame built without the generic encoder)."""
        self.position += 1
        framed = chain.event_frame(self.position, record, line, submission)
        self.head = chain.link(self.head, framed)
        self.add(log, (self.position, "event", framed, self.head))
        return self.position

    def add(self, table: sa.Table, row: Row) -> None:
        self._buffers.setdefault(table, []).append(row)

    def extend(self, table: sa.Table, rows: Sequence[Row]) -> None:
        if rows:
            self._buffers.setdefault(table, []).extend(rows)

    def flush(self, *, wait: bool = True) -> None:
        """Write the buffered rows; with ``wait=False`` possibly in the background."""
        self.join()
        batches = [(t, rows) for t, rows in self._buffers.items() if rows]
        self._buffers = {}
        if not batches:
            return
        if wait or not self.store.background_writes:
            self._write(batches)
            return
        self._thread = threading.Thread(target=self._write_catching, args=(batches,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for a background flush; re-raise its error here, in the caller's thread."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _write(self, batches: list[tuple[sa.Table, list[Row]]]) -> None:
        for table, rows in batches:
            self.store.write_rows(self.conn, table, rows)

    def _write_catching(self, batches: list[tuple[sa.Table, list[Row]]]) -> None:
        try:
            self._write(batches)
        except BaseException as exc:  # handed to join(), raised in the caller's thread
            self._error = exc


class Store:
    """An append-only reetrace store on one database."""

    dialect = ""
    #: The SQL that differs between databases (see :mod:`reetrace.store.dialect`).
    sql: Dialect
    #: Whether Appender.flush(wait=False) may write from a background thread.
    background_writes = False
    #: How long a writer waits for another writer before raising Busy (seconds); None: the backend's
    #: default. A service sets it short, so that a request answers 503 instead of hanging.
    lock_timeout_s: float | None = None

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._migrated = False

    # -- backend hooks -----------------------------------------------------------------------------

    def lock_for_append(self, conn: Connection) -> None:
        raise NotImplementedError

    def write_rows(self, conn: Connection, table: sa.Table, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def begin_write(self) -> Connection:
        """A connection whose transaction is open and may write."""
        raise NotImplementedError

    def lock_for_migration(self, conn: Connection) -> None:
        """Serialise schema creation between processes (inside :meth:`begin_write`'s transaction)."""

    def translate(self, exc: sa.exc.DBAPIError) -> Exception:
        """Map a driver error to reetrace's error tree."""
        msg = str(exc.orig) if exc.orig is not None else str(exc)
        if "append-only" in msg:
            return Refused(msg.splitlines()[0])
        return StoreError(msg.splitlines()[0] if msg else type(exc).__name__)

    # -- schema ------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (idempotent)."""
        if self._migrated:
            return
        from reetrace.store.migrate import upgrade

        upgrade(self)
        self._migrated = True

    @contextmanager
    def migration_lock(self) -> Iterator[Connection]:
        """A write transaction that holds the backend's migration lock; commits on normal exit."""
        conn = self.begin_write()
        try:
            self.lock_for_migration(conn)
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    # -- reading -----------------------------------------------------------------------------------

    @staticmethod
    def read_head(conn: Connection) -> tuple[int, bytes]:
        row = conn.execute(
            sa.select(log.c.position, log.c.hash).order_by(log.c.position.desc()).limit(1)
        ).first()
        if row is None:
            return 0, chain.GENESIS
        return int(row[0]), bytes(row[1])

    def head(self) -> tuple[int, bytes]:
        self.migrate()
        with self.engine.connect() as conn:
            return self.read_head(conn)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        self.migrate()
        with self.engine.connect() as conn:
            yield conn

    # -- writing -----------------------------------------------------------------------------------

    @contextmanager
    def appending(self) -> Iterator[Appender]:
        """One all-or-nothing append: commit on normal exit, roll back on any exception."""
        self.migrate()
        conn = self.begin_write()
        app: Appender | None = None
        try:
            self.lock_for_append(conn)
            position, head = self.read_head(conn)
            app = Appender(self, conn, position, head)
            yield app
            app.flush()
            conn.commit()
        except sa.exc.DBAPIError as exc:
            _quiet_join(app)
            conn.rollback()
            raise self.translate(exc) from exc
        except BaseException:
            _quiet_join(app)
            conn.rollback()
            raise
        finally:
            conn.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _quiet_join(app: Appender | None) -> None:
    """Before rolling back, let a background write finish; its own error is moot by then."""
    if app is not None:
        # The error that caused the rollback is the one to report, not a follow-on one.
        with contextlib.suppress(BaseException):
            app.join()
