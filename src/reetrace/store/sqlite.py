"""SQLite backend: the embedded default (a file in WAL mode).

Writers take the database's write lock up front with ``BEGIN IMMEDIATE``: the head is read and every
position assigned under that lock, so two submitters can never interleave and positions commit in order.
Readers use plain deferred transactions and, in WAL mode, never block the writer.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from reetrace.errors import Busy
from reetrace.store.base import Row, Store
from reetrace.store.dialect import Dialect, register
from reetrace.store.schema import UTCDateTime

#: How long a writer waits for another writer's transaction before giving up (ms).
BUSY_TIMEOUT_MS = 60_000


def _sqlite_datetime(value: datetime | None) -> str | None:
    # The text form SQLAlchemy's SQLite DateTime type reads back (naive UTC, microseconds).
    if value is None:
        return None
    # Spelled out rather than strftime: ``%Y`` does not zero-pad years before 1000 on every platform.
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}."
        f"{v.microsecond:06d}"
    )


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:///FILE`` URL names."""
    database = sa.engine.make_url(url).database or ""
    return Path(database.removeprefix("file:").split("?", 1)[0])


class SqliteDialect(Dialect):
    name = "sqlite"

    def array(self, values: Iterable[Any]) -> Any:
        return orjson.dumps(list(values)).decode()  # a JSON array, read back by json_each

    def member(self, col: str, param: str, kind: str = "text") -> str:
        return f"{col} IN (SELECT value FROM json_each(:{param}))"

    def values(self, param: str) -> str:
        return f"json_each(:{param})"

    def pair_member(self, col_a: str, col_b: str, param: str) -> str:
        return (
            f"({col_a}, {col_b}) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
            f"FROM json_each(:{param}))"
        )

    def frame_text(self, body: str, *path: str) -> str:
        return f"json_extract(CAST({body} AS TEXT), '$.{'.'.join(path)}')"

    def frame_object(self, body: str, *path: str) -> str:
        return self.frame_text(body, *path)

    def each_text(self, expr: str, alias: str) -> str:
        return f"json_each({expr}) AS {alias}"

    def prefix_match(self, col: str, param: str) -> str:
        # A range under NOCASE is answered by the index ix_lots_lot_nocase (lot COLLATE NOCASE); LIKE
        # would be too, but only without an ESCAPE clause, and lot codes may contain % and _.
        return f"({col} >= :{param}_lo COLLATE NOCASE AND {col} < :{param}_hi COLLATE NOCASE)"

    def prefix_params(self, param: str, prefix: str) -> dict[str, str]:
        return {f"{param}_lo": prefix, f"{param}_hi": prefix + "\U0010ffff"}

    def prefix_order(self, col: str) -> str:
        return f"{col} COLLATE NOCASE"


DIALECT = SqliteDialect()
register("sqlite", DIALECT)


class SqliteStore(Store):
    dialect = "sqlite"
    sql = DIALECT

    def __init__(self, url: str) -> None:
        # A pooled connection stays open between submissions: closing the last connection to a WAL
        # database checkpoints it, which would cost a full WAL write-back after every submission.
        engine = sa.create_engine(url)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            # Take transaction control from pysqlite so that BEGIN is ours (SQLAlchemy's recipe).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms()}")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("reetrace_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        super().__init__(engine, url)
        self._insert_sql: dict[str, tuple[str, list[int]]] = {}

    def begin_write(self, *, wait: bool = True) -> Connection:
        conn = self.engine.connect().execution_options(reetrace_write=True)
        raw: Any = conn.connection.driver_connection
        if not wait:  # on the driver's connection: no transaction may begin before ours
            raw.execute("PRAGMA busy_timeout = 0")
        try:
            conn.begin()
        except sa.exc.OperationalError as exc:
            conn.close()
            if "locked" in str(exc):
                if not wait:
                    raise Busy("another writer holds the database") from exc
                ms = self._busy_timeout_ms()
                raise Busy(f"another writer held the database for over {ms} ms") from exc
            raise
        finally:
            if not wait:
                raw.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms()}")
        return conn

    def _busy_timeout_ms(self) -> int:
        return int(self.lock_timeout_s * 1000) if self.lock_timeout_s else BUSY_TIMEOUT_MS

    def lock_for_append(self, conn: Connection, *, wait: bool = True) -> None:
        pass  # BEGIN IMMEDIATE in begin_write already holds the write lock

    def schema_objects(self, conn: Connection) -> dict[str, str]:
        return _schema_objects(conn)

    def reference_schema_objects(self) -> dict[str, str]:
        return dict(_reference_objects())

    def write_rows(self, conn: Connection, table: sa.Table, rows: Sequence[Row]) -> None:
        sql, dt_cols = self._insert_for(table)
        if dt_cols:
            fixed: list[Row] = []
            for row in rows:
                r = list(row)
                for i in dt_cols:
                    r[i] = _sqlite_datetime(r[i])
                fixed.append(tuple(r))
            rows = fixed
        try:
            conn.connection.driver_connection.executemany(sql, rows)  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            # The driver is called directly: wrap its error as SQLAlchemy would, so that the caller
            # (Store.appending) maps it to reetrace's error tree as on PostgreSQL.
            raise sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    def _insert_for(self, table: sa.Table) -> tuple[str, list[int]]:
        if table.name not in self._insert_sql:
            cols = list(table.columns)
            names = ", ".join(f'"{c.name}"' for c in cols)
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in cols)})'
            dt_cols = [i for i, c in enumerate(cols) if isinstance(c.type, UTCDateTime)]
            self._insert_sql[table.name] = (sql, dt_cols)
        return self._insert_sql[table.name]


_OBJECTS = "SELECT type, name, sql FROM sqlite_master WHERE type IN ('view', 'trigger')"


def _schema_objects(conn: Connection) -> dict[str, str]:
    # SQLite keeps each object's CREATE statement as it was typed: compare it, white space aside.
    return {
        f"{kind} {name}": " ".join((sql or "").split()) for kind, name, sql in conn.exec_driver_sql(_OBJECTS)
    }


@functools.cache
def _reference_objects() -> tuple[tuple[str, str], ...]:
    """The schema objects of a database migrated from scratch (in memory; once per process)."""
    from reetrace.store.migrate import run_upgrade

    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            run_upgrade(conn)
            return tuple(sorted(_schema_objects(conn).items()))
    finally:
        engine.dispose()
