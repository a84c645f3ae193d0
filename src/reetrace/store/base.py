"""The store interface: one class, a backend subclass per database.

Writers append through :meth:`Store.appending`, a context manager that opens one transaction, takes the
backend's write lock (so positions are assigned and committed strictly in order: a reader never sees a
position that a slower transaction fills in later), reads the head of the chain, and hands out an
:class:`Appender`. Everything appended in the block commits together or not at all.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reetrace.errors import Refused, StoreError, Unavailable
from reetrace.store import chain
from reetrace.store.dialect import Dialect
from reetrace.store.schema import log, merkle_nodes
from reetrace.store.tree import Frontier
from reetrace.tlog.merkle import leaf_hash

Row = tuple[Any, ...]


class _QuickSwitch:
    """While any background write is in flight, threads switch the GIL every 0.2 ms instead of 5.

    The writing thread needs the GIL for a moment each time the socket takes more data, and waits for
    it behind the caller, which is busy in Python building the next batch: by default a waiting thread
    gets the GIL only after the holder has run 5 ms (``sys.setswitchinterval``), so each megabyte sent
    cost several such waits and the server sat idle. Measured on a 100,000-event submission (same run,
    twice each): the log's and the events' COPY 1.2-1.35 s and 1.4-1.6 s at 5 ms, 0.79 s and 0.91-0.93 s
    at 0.2 ms; the write lock held 11.4-13.0 s against 10.6-10.7 s. The interval is the process's, so it
    is counted: set by the first writer that starts, restored by the last that ends.
    """

    INTERVAL = 0.0002
    _lock = threading.Lock()
    _users = 0
    _saved = 0.0

    @classmethod
    def enter(cls) -> None:
        with cls._lock:
            if cls._users == 0:
                cls._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(cls._saved, cls.INTERVAL))
            cls._users += 1

    @classmethod
    def leave(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0:
                sys.setswitchinterval(cls._saved)


class Appender:
    """Assigns positions, links the chain and buffers rows; flushes them in batches.

    On backends that allow it, ``flush(wait=False)`` writes in a background thread so that the caller
    can build the next batch while the database ingests this one. The rows are encoded for the wire
    here, in the caller's thread, and the background thread only sends bytes: it then holds the GIL
    for a moment per block it sends, not for every row. Encoding rows there, against a caller that is
    itself busy in Python, made each batch wait on the GIL (2.2 s more than the server's own 6.3 s
    for a 100,000-event submission). Anything that touches the connection calls :meth:`join` first.
    """

    def __init__(
        self, store: Store, conn: Connection, position: int, head: bytes, tree: Frontier | None = None
    ) -> None:
        self.store = store
        self.conn = conn
        self.position = position  # last assigned position
        self.head = head  # link of the last assigned position
        self._buffers: dict[sa.Table, list[Row]] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        #: The Merkle tree's right edge (None: the tree is not maintained, benchmark-only).
        self.tree = tree

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
        background = not wait and self.store.background_writes
        if not background:
            self.join()
        batches = self._take()
        if not background:
            if batches:
                self._write(batches)
            return
        if not batches:
            return
        # Encoded while the previous batch may still be going in, so that the connection goes from one
        # send to the next without waiting for this (encoding between them left the server idle for
        # about a second of a 100,000-event submission). Encoding uses no connection.
        encoded = [(t, self.store.encode_rows(self.conn, t, rows)) for t, rows in batches]
        self.join()
        thread = threading.Thread(target=self._send_catching, args=(encoded,), daemon=True)
        _QuickSwitch.enter()
        try:
            thread.start()
        except BaseException:
            _QuickSwitch.leave()
            raise
        self._thread = thread

    def _take(self) -> list[tuple[sa.Table, list[Row]]]:
        """The buffered rows, with the Merkle nodes their log rows complete, and empty buffers."""
        framed = self._buffers.get(log)
        if framed and self.tree is not None:
            # The nodes these frames complete go out with them, in the same transaction. Taken from the
            # buffered log rows themselves, so that every way of appending a frame feeds the tree.
            if framed[0][0] != self.tree.size + 1:
                raise StoreError(f"log rows from {framed[0][0]} do not follow the tree of {self.tree.size}")
            self.extend(merkle_nodes, self.tree.append([leaf_hash(row[2]) for row in framed]))
        batches = [(t, rows) for t, rows in self._buffers.items() if rows]
        self._buffers = {}
        return batches

    @property
    def sending(self) -> bool:
        """Whether a background flush may still be using the connection (until :meth:`join`)."""
        return self._thread is not None

    def join(self) -> None:
        """Wait for a background flush; re-raise its error here, in the caller's thread."""
        if self._thread is not None:
            try:
                self._thread.join()
            finally:
                self._thread = None
                _QuickSwitch.leave()
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _write(self, batches: list[tuple[sa.Table, list[Row]]]) -> None:
        for table, rows in batches:
            self.store.write_rows(self.conn, table, rows)

    def _send_catching(self, encoded: list[tuple[sa.Table, bytes]]) -> None:
        try:
            for table, data in encoded:
                self.store.send_rows(self.conn, table, data)
        except BaseException as exc:  # handed to join(), raised in the caller's thread
            self._error = exc


class Store:
    """An append-only reetrace store on one database."""

    dialect = ""
    #: The SQL that differs between databases (see :mod:`reetrace.store.dialect`).
    sql: Dialect
    #: Whether Appender.flush(wait=False) may write from a background thread.
    background_writes = False
    #: Whether appends maintain the Merkle tree (``merkle_nodes``). Off only for benchmarks' reference
    #: runs: a store written without it fails ``verify`` and cannot append with it again.
    maintain_tree = True
    #: How long a writer waits for another writer before raising Busy (seconds); None: the backend's
    #: default. A service sets it short, so that a request answers 503 instead of hanging.
    lock_timeout_s: float | None = None
    #: A store only read from: a streaming replica (``reetrace serve --read-db``). It is never migrated
    #: (a replica refuses writes and gets the primary's schema by replaying the WAL) and never appended to.
    read_only: bool = False

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._migrated = False
        self._reference: dict[str, str] | None = None

    # -- backend hooks -----------------------------------------------------------------------------

    def lock_for_append(self, conn: Connection, *, wait: bool = True) -> None:
        """Take the write lock on ``conn``'s transaction; with ``wait=False`` raise Busy at once if
        another writer holds it."""
        raise NotImplementedError

    def write_rows(self, conn: Connection, table: sa.Table, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def encode_rows(self, conn: Connection, table: sa.Table, rows: Sequence[Row]) -> bytes:
        """``rows`` as the bytes :meth:`send_rows` writes (backends with ``background_writes``): the
        CPU-bound half of :meth:`write_rows`, without touching the connection's session."""
        raise NotImplementedError

    def send_rows(self, conn: Connection, table: sa.Table, data: bytes) -> None:
        """Write rows encoded by :meth:`encode_rows` (the I/O-bound half of :meth:`write_rows`)."""
        raise NotImplementedError

    def begin_write(self, *, wait: bool = True) -> Connection:
        """A connection whose transaction is open and may write (``wait``: see lock_for_append)."""
        raise NotImplementedError

    def lock_for_migration(self, conn: Connection) -> None:
        """Serialise schema creation between processes (inside :meth:`begin_write`'s transaction)."""

    def schema_objects(self, conn: Connection) -> dict[str, str]:
        """The definitions of the schema objects trace and audit depend on (views, triggers, trigger
        functions, rules), as the database itself reports them: ``"kind name" -> definition``."""
        raise NotImplementedError

    def reference_schema_objects(self) -> dict[str, str]:
        """:meth:`schema_objects` of a freshly migrated schema on the same kind of database."""
        raise NotImplementedError

    def translate(self, exc: sa.exc.DBAPIError) -> Exception:
        """Map a driver error to reetrace's error tree."""
        msg = str(exc.orig) if exc.orig is not None else str(exc)
        if "append-only" in msg:
            return Refused(msg.splitlines()[0])
        return StoreError(msg.splitlines()[0] if msg else type(exc).__name__)

    # -- schema ------------------------------------------------------------------------------------

    def has_schema(self) -> bool:
        """Whether the database holds a reetrace schema (of any revision)."""
        from reetrace.store.migrate import current

        try:
            return current(self.engine) is not None
        except sa.exc.DBAPIError as exc:
            raise self.translate(exc) from exc

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (idempotent)."""
        if self._migrated or self.read_only:
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

    def connect(self) -> Connection:
        """A connection from the pool, or :class:`Unavailable` when the database does not answer (so
        that a service can say so, 503, instead of failing with a driver error)."""
        try:
            return self.engine.connect()
        except sa.exc.OperationalError as exc:
            what = "the read-only database" if self.read_only else "the database"
            msg = f"{what} does not answer: {_first_line(exc)}"
            raise Unavailable(msg, read_only=self.read_only) from exc

    @staticmethod
    def read_head(conn: Connection) -> tuple[int, bytes]:
        row = conn.execute(
            sa.select(log.c.position, log.c.hash).order_by(log.c.position.desc()).limit(1)
        ).first()
        if row is None:
            return 0, chain.GENESIS
        return int(row.position), bytes(row.hash)

    def head(self) -> tuple[int, bytes]:
        self.migrate()
        with self.connect() as conn:
            return self.read_head(conn)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        self.migrate()
        with self.connect() as conn:
            yield conn

    # -- writing -----------------------------------------------------------------------------------

    @contextmanager
    def appending(self, *, wait: bool = True) -> Iterator[Appender]:
        """One all-or-nothing append: commit on normal exit, roll back on any exception. With
        ``wait=False``, raise Busy at once instead of waiting for another writer."""
        if self.read_only:
            raise StoreError("this store is read-only (a replica): appends go to the primary")
        self.migrate()
        conn = self.begin_write(wait=wait)
        app: Appender | None = None
        try:
            self.lock_for_append(conn, wait=wait)
            position, head = self.read_head(conn)
            tree = Frontier.load(conn, position) if self.maintain_tree else None
            app = Appender(self, conn, position, head, tree)
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


def _first_line(exc: sa.exc.DBAPIError) -> str:
    msg = str(exc.orig) if exc.orig is not None else str(exc)
    return msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__


def _quiet_join(app: Appender | None) -> None:
    """Before rolling back, let a background write finish; its own error is moot by then."""
    if app is not None:
        # The error that caused the rollback is the one to report, not a follow-on one.
        with contextlib.suppress(BaseException):
            app.join()
