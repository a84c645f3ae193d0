"""SQLite backend: the embedded default (a file in WAL mode).

Writers take the database's write lock up front with ``BEGIN IMMEDIATE``: the head is read and every
position assigned under that lock, so two submitters can never interleave and positions commit in order.
Readers use plain deferred transactions and, in WAL mode, never block the writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
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
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteDialect(Dialect):
    name = "sqlite"

    def array(self, values: Iterable[Any]) -> Any:
        return orjson.dumps(list(values)).decode()  # a JSON array, read back by json_each

    def member(self, col: str, param: str, kind: str = "text") -> str:
        return f"{col} IN (SELECT value FROM json_each(:{param}))"

    def values(self, param: str) -> str:
        return f"json_each(:{param})"

    def frame_text(self, body: str, *path: str) -> str:
        return f"json_extract(CAST({body} AS TEXT), '$.{'.'.join(path)}')"

    def frame_object(self, body: str, *path: str) -> str:
        return self.frame_text(body, *path)

    def each_text(self, expr: str, alias: str) -> str:
        return f"json_each({expr}) AS {alias}"


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

    def begin_write(self) -> Connection:
        conn = self.engine.connect().execution_options(reetrace_write=True)
        try:
            conn.begin()
        except sa.exc.OperationalError as exc:
            conn.close()
            if "locked" in str(exc):
                ms = self._busy_timeout_ms()
                raise Busy(f"another writer held the database for over {ms} ms") from exc
            raise
        return conn

    def _busy_timeout_ms(self) -> int:
        return int(self.lock_timeout_s * 1000) if self.lock_timeout_s else BUSY_TIMEOUT_MS

    def lock_for_append(self, conn: Connection) -> None:
        pass  # BEGIN IMMEDIATE in begin_write already holds the write lock

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
        conn.connection.driver_connection.executemany(sql, rows)  # type: ignore[union-attr]

    def _insert_for(self, table: sa.Table) -> tuple[str, list[int]]:
        if table.name not in self._insert_sql:
            cols = list(table.columns)
            names = ", ".join(f'"{c.name}"' for c in cols)
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in cols)})'
            dt_cols = [i for i, c in enumerate(cols) if isinstance(c.type, UTCDateTime)]
            self._insert_sql[table.name] = (sql, dt_cols)
        return self._insert_sql[table.name]
