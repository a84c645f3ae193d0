"""PostgreSQL backend (psycopg 3): the real deployment.

Positions commit in order because every writer takes ``LOCK TABLE log IN EXCLUSIVE MODE`` (through the
owner's function ``reetrace_lock_log()``, so that a SELECT-and-INSERT writer role can) before it
reads the head: EXCLUSIVE conflicts with itself (and with every write) but not with ACCESS SHARE, so
readers go on reading committed rows while exactly one writer appends. A sequence would not do: a
transaction that took position 11 could commit after one that took 12, and a reader that had already
seen 12 would never see 11 appear behind it (the gap problem; see eventsourcing's postgres.py).
``SET LOCAL lock_timeout`` turns an endless wait behind a stuck writer into a clear Busy error.

Bulk writes use binary COPY, one COPY per table per batch.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import Busy, StoreError
from reetrace.store.base import Row, Store
from reetrace.store.dialect import _HOLDERS, Dialect, register
from reetrace.store.schema import UTCDateTime

#: How long a writer waits for the log lock (seconds).
LOCK_TIMEOUT_S = 60
#: The advisory lock key of schema migrations ("reetrace" as a number, so no other program's key).
MIGRATION_LOCK_KEY = 0x7265657472616365


def _pg_type(col: sa.Column[object]) -> str:
    t = col.type
    if isinstance(t, UTCDateTime):
        return "timestamptz"
    if isinstance(t, sa.BigInteger):
        return "int8"
    if isinstance(t, sa.Integer):
        return "int4"
    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.Double | sa.Float):
        return "float8"
    if isinstance(t, sa.LargeBinary):
        return "bytea"
    if isinstance(t, sa.String):
        return "text"
    raise TypeError(f"no COPY type for {col}")


def normalise_url(url: str) -> str:
    """``postgresql://user@host/db`` as a user types it -> the psycopg 3 driver URL."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresDialect(Dialect):
    name = "postgresql"
    # OFFSET 0 keeps a subquery apart: without it, ORDER BY lot LIMIT n walks the lot index in order
    # and filters each row by the prefix (300 ms per prefix that matches nothing, at 1M lots).
    fence = " OFFSET 0"
    parallel_ingest = True

    def array(self, values: Iterable[Any]) -> Any:
        return list(values)  # psycopg sends a list as one array parameter

    def member(self, col: str, param: str, kind: str = "text") -> str:
        # ``= ANY(array)`` is answered with index scans for a short array; ``IN (SELECT unnest(...))``
        # is planned as a hash join over the whole table.
        return f"{col} = ANY(CAST(:{param} AS {kind}[]))"

    def values(self, param: str) -> str:
        return f"unnest(CAST(:{param} AS text[])) AS value"

    def pair_member(self, col_a: str, col_b: str, param: str) -> str:
        return (
            f"({col_a}, {col_b}) IN (SELECT CAST(k->>0 AS int4), CAST(k->>1 AS int8) "
            f"FROM json_array_elements(CAST(:{param} AS json)) AS k)"
        )

    def frame_text(self, body: str, *path: str) -> str:
        return f"CAST(convert_from({body}, 'UTF8')::json #> '{{{','.join(path)}}}' AS text)"

    def frame_object(self, body: str, *path: str) -> str:
        # json (text) parses faster than jsonb; only the small object at the path becomes jsonb.
        return f"(convert_from({body}, 'UTF8')::json #> '{{{','.join(path)}}}')::jsonb"

    def each_text(self, expr: str, alias: str) -> str:
        return f"jsonb_each_text({expr}) AS {alias}"

    def prefix_match(self, col: str, param: str) -> str:
        # Answered by ix_lots_lot_lower, an index on lower(lot) with text_pattern_ops (LIKE 'x%' on
        # an index of the default collation cannot use it).
        return f"lower({col}) LIKE :{param}"

    def prefix_params(self, param: str, prefix: str) -> dict[str, str]:
        escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return {param: escaped + "%"}

    def prefix_order(self, col: str) -> str:
        # text_pattern_ops orders by ~<~ (bytes), not by the collation's <: only this spelling walks
        # ix_lots_lot_lower in order.
        return f"lower({col}) USING ~<~"

    ranges_stop_early = True

    def prefix_ranges(
        self,
        columns: str,
        source: str,
        where: Sequence[str],
        col: str,
        prefixes: Sequence[str],
        then: str,
        limit: int,
        binds: dict[str, Any],
        *,
        holders: Sequence[tuple[str, ...]] = (),
        probe: Sequence[str] = (),
    ) -> str:
        # Sixty arms of a UNION ALL (one per enterprise's range) took most of the time of a search
        # that matches nothing in planning them. Here the ranges are one array of bounds, the rows
        # of a function scan WITH ORDINALITY, and one LATERAL subquery reads each range: planned
        # once, whatever the number of ranges. The ordinality is a sort order the planner knows, so
        # ORDER BY r.n, … LIMIT is an incremental sort that stops reading ranges once it holds
        # ``limit`` rows. A range is [prefix, its successor) under ~>=~ and ~<~ (the operators of
        # text_pattern_ops): LIKE with a pattern that is not a constant is no index condition.
        bounds = [(p.lower(), _successor(p.lower())) for p in prefixes]
        if not all(lo and hi for lo, hi in bounds):  # "" (every row), or no successor: the arms
            return super().prefix_ranges(
                columns, source, where, col, prefixes, then, limit, binds, holders=holders, probe=probe
            )
        binds |= {"rng_lo": [lo for lo, _ in bounds], "rng_hi": [hi for _, hi in bounds]}
        key, x_key = f"lower({col})", "lower(x.lot)"
        cond = [*where, f"{key} ~>=~ r.lo", f"{key} ~<~ r.hi"]
        if probe:
            # Uncorrelated to the range's rows: a one-time filter of each range, before any read.
            inside = " AND ".join([*probe, f"{x_key} ~>=~ r.lo", f"{x_key} ~<~ r.hi"])
            cond.append(f"EXISTS (SELECT 1 FROM lots x WHERE {inside})")
        order = f"{self.prefix_order(col)}, {then}"
        inner = f"SELECT {columns} FROM {source} WHERE {' AND '.join(cond)}"
        ranges = "unnest(CAST(:rng_lo AS text[]), CAST(:rng_hi AS text[])"
        if holders:
            # Each range's holders as a JSON list (an array of arrays must be rectangular).
            binds["rng_holders"] = [orjson.dumps(list(h)).decode() for h in holders]
            ranges += ", CAST(:rng_holders AS text[])) WITH ORDINALITY AS r(lo, hi, holders, n)"
            held = "(ARRAY(SELECT jsonb_array_elements_text(CAST(r.holders AS jsonb))))"
            inner = f"SELECT * FROM ({_HOLDERS.sub(held, inner)}{self.fence}) l"
        else:
            ranges += ") WITH ORDINALITY AS r(lo, hi, n)"
        return (
            f"SELECT l.*, r.n - 1 AS rng FROM {ranges} "
            f"CROSS JOIN LATERAL ({inner} ORDER BY {order} LIMIT {int(limit)}) l "
            f"ORDER BY r.n, {order} LIMIT {int(limit)}"
        )

    def lookup_join(self, table: str, alias: str, on: str) -> str:
        # Behind the fence the conditions on the alias are not pushed into the lookup, so the planner
        # cannot answer them from another index of the table (and join what it read by a scan).
        return f"CROSS JOIN LATERAL (SELECT * FROM {table} {alias} WHERE {on}{self.fence}) {alias}"

    def tune_for_audit(self, conn: Connection) -> None:
        # A whole-store audit is a handful of large joins and aggregates: JIT compiling them costs
        # seconds and wins nothing, and hash aggregates need more than the 4 MB default to stay off
        # disk. SET LOCAL: only this read transaction.
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")

    def tune_for_lookup(self, conn: Connection) -> None:
        # A search's LATERAL reads are costed as if every range were read (sixty of them), though they
        # stop at the page: above jit_above_cost, compiling took 50 ms of a 70 ms search.
        conn.exec_driver_sql("SET LOCAL jit = off")

    def tune_for_writing(self, conn: Connection) -> None:
        # The checks of a submission are small indexed queries; JIT compiling them costs more (over a
        # second on a large store) than running them.
        conn.exec_driver_sql("SET LOCAL jit = off")

    @contextmanager
    def index_joins_only(self, conn: Connection) -> Iterator[None]:
        # Hash joins read every edge of the store; merge joins sort every row of a large submission
        # by lot, in the database's collation (4.2-4.6 s of the cycle check for a 100,000-event file on a
        # fresh store, against 1.9-2.2 s with index nested loops, same run).
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        try:
            yield
        finally:
            conn.exec_driver_sql("SET LOCAL enable_hashjoin = DEFAULT")
            conn.exec_driver_sql("SET LOCAL enable_mergejoin = DEFAULT")

    def snapshot(self, conn: Connection) -> Connection:
        return conn.execution_options(isolation_level="REPEATABLE READ")


DIALECT = PostgresDialect()
register("postgresql", DIALECT)


class PostgresStore(Store):
    dialect = "postgresql"
    sql = DIALECT
    background_writes = True

    def __init__(self, url: str) -> None:
        engine = sa.create_engine(normalise_url(url), pool_pre_ping=True)
        super().__init__(engine, url)
        self._copy: dict[str, tuple[str, list[str]]] = {}

    def begin_write(self, *, wait: bool = True) -> Connection:
        conn = self.connect()
        conn.begin()
        return conn

    def lock_for_append(self, conn: Connection, *, wait: bool = True) -> None:
        # Without waiting: a lock timeout of a millisecond (the owner's function cannot say NOWAIT).
        timeout_ms = int((self.lock_timeout_s or LOCK_TIMEOUT_S) * 1000) if wait else 1
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{timeout_ms}ms'")
        self.sql.tune_for_writing(conn)
        try:
            # LOCK TABLE log IN EXCLUSIVE MODE, through a function of the tables' owner so that a
            # writer role with only SELECT and INSERT can take it (store/roles.py).
            conn.exec_driver_sql("SELECT reetrace_lock_log()")
        except sa.exc.OperationalError as exc:
            if not wait and "lock timeout" in str(exc):
                raise Busy("another writer holds the log") from exc
            if "lock timeout" in str(exc):
                raise Busy(f"another writer held the log for over {timeout_ms} ms") from exc
            raise

    def lock_for_migration(self, conn: Connection) -> None:
        # A transaction-scoped advisory lock: concurrent first users of a new database wait here
        # instead of racing to create the same types and tables. Released at commit or rollback.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")

    def schema_objects(self, conn: Connection) -> dict[str, str]:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        out: dict[str, str] = {}
        for name, definition in conn.exec_driver_sql(_VIEWS):
            out[f"view {name}"] = _squeeze(definition)
        for name, definition, enabled in conn.exec_driver_sql(_TRIGGERS):
            # A disabled trigger refuses nothing: its state is part of what must match. The table is
            # named with its schema; the reference lives in another one.
            definition = definition.replace(f" ON {schema}.", " ON ", 1)
            out[f"trigger {name}"] = f"{_squeeze(definition)} [enabled {enabled}]"
        for name, definition in conn.exec_driver_sql(_FUNCTIONS):
            # pg_get_functiondef names the schema too, and the search path a SECURITY DEFINER function
            # captured at creation (``SET search_path FROM CURRENT``): the store's own schema, which the
            # reference spells differently. Only that exact path is normalised: any other path (a
            # function pointed at another schema's ``log``) still differs.
            definition = definition.replace(f"FUNCTION {schema}.", "FUNCTION ", 1)
            definition = _SEARCH_PATH.sub(lambda m: _own_path(m, schema), definition)
            out[f"function {name}"] = _squeeze(definition)
        for name, table, definition in conn.exec_driver_sql(_RULES):
            out[f"rule {table}.{name}"] = _squeeze(definition)
        return out

    def reference_schema_objects(self) -> dict[str, str]:
        """The migrations run in a scratch schema of this database, inside a transaction that is rolled
        back: the server itself spells the definitions the migrations declare."""
        if self._reference is None:
            from reetrace.store.migrate import run_upgrade

            with self.engine.connect() as conn:
                tx = conn.begin()
                try:
                    schema = f"reetrace_reference_{uuid.uuid4().hex[:12]}"
                    conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
                    conn.exec_driver_sql(f'SET LOCAL search_path = "{schema}"')
                    run_upgrade(conn)
                    self._reference = self.schema_objects(conn)
                finally:
                    tx.rollback()
        return dict(self._reference)

    def write_rows(self, conn: Connection, table: sa.Table, rows: Sequence[Row]) -> None:
        sql, types = self._copy_for(table)
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            with raw.cursor() as cur, cur.copy(sql) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise StoreError(f"COPY into {table.name} failed: {exc}") from exc

    def encode_rows(self, conn: Connection, table: sa.Table, rows: Sequence[Row]) -> bytes:
        # psycopg's own binary formatter (C), writing to memory instead of the socket: the cursor only
        # lends its adapters, so this may run while another thread sends on the connection.
        from psycopg.copy import Copy, FileWriter

        _, types = self._copy_for(table)
        raw = conn.connection.driver_connection
        assert raw is not None
        out = io.BytesIO()
        try:
            with Copy(raw.cursor(), binary=True, writer=FileWriter(out)) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        except (psycopg.Error, TypeError, ValueError) as exc:
            raise StoreError(f"rows for {table.name} cannot be encoded: {exc}") from exc
        return out.getvalue()

    def send_rows(self, conn: Connection, table: sa.Table, data: bytes) -> None:
        sql, _ = self._copy_for(table)
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            with raw.cursor() as cur, cur.copy(sql) as copy:
                copy.write(data)  # the whole binary COPY stream: signature, rows, trailer
        except psycopg.Error as exc:
            raise StoreError(f"COPY into {table.name} failed: {exc}") from exc

    def _copy_for(self, table: sa.Table) -> tuple[str, list[str]]:
        if table.name not in self._copy:
            cols = list(table.columns)
            names = ", ".join(f'"{c.name}"' for c in cols)
            sql = f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)'
            self._copy[table.name] = (sql, [_pg_type(c) for c in cols])
        return self._copy[table.name]


def _squeeze(sql: str) -> str:
    return " ".join(sql.split())


_VIEWS = "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema()"
_TRIGGERS = """
    SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal AND n.nspname = current_schema()
"""
_SEARCH_PATH = re.compile(r"SET search_path TO ([^\n]*)")


def _own_path(m: re.Match[str], schema: str) -> str:
    entries = [e.strip().strip("'\"") for e in m.group(1).split(",")]
    if [e for e in entries if e != "$user"] == [schema]:
        return "SET search_path TO <the store's schema>"
    return m.group(0)


_FUNCTIONS = """
    SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = current_schema() AND p.prokind = 'f'
"""
_RULES = "SELECT rulename, tablename, definition FROM pg_rules WHERE schemaname = current_schema()"


def _successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` under byte order (UTF-8 orders
    as code points): its last character that can be, incremented, after what comes before it; None
    when there is none (``prefix`` is empty or every character is the last code point)."""
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if code <= 0x10FFFF:
            # A surrogate is no character of a text: the next one is U+E000.
            return prefix[:i] + chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
    return None
