"""The store's own contract, on the :class:`Store` and its :class:`Appender` directly (no submissions):
one abstract suite, subclassed per backend with a factory, as pyeventsourcing tests its recorders.

Appends assign positions in order and link the chain; a failed block appends nothing; concurrent
writers never interleave; a reader never sees a gap; the database refuses UPDATE, DELETE and TRUNCATE
of every fact table.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from reetrace.errors import StoreError
from reetrace.store import Store, chain, open_store
from reetrace.store.schema import FACT_TABLES, UTCDateTime, log, merkle_nodes


def _record(**fields: Any) -> bytes:
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def _positions(store: Store) -> list[int]:
    with store.reading() as conn:
        return list(conn.execute(sa.select(log.c.position).order_by(log.c.position)).scalars())


def _dummy_row(table: sa.Table, position: int) -> tuple[Any, ...]:
    """A row of ``table`` at ``position`` with a plain value of each column's type."""
    values: list[Any] = []
    for col in table.columns:
        t = col.type
        if col.name == "position":
            values.append(position)
        elif isinstance(t, UTCDateTime):
            values.append(datetime(2025, 3, 1, tzinfo=UTC))
        elif isinstance(t, sa.Boolean):
            values.append(True)
        elif isinstance(t, sa.Integer):
            values.append(1)
        elif isinstance(t, sa.Double | sa.Float):
            values.append(1.0)
        elif isinstance(t, sa.LargeBinary):
            values.append(b"x")
        else:
            values.append("x")
    return tuple(values)


class StoreContract:
    """The suite; a subclass per backend provides the ``url`` fixture and :attr:`truncate`."""

    #: The statement that empties a table: TRUNCATE, or SQLite's DELETE without WHERE (which SQLite
    #: runs as a truncate unless a DELETE trigger exists).
    truncate = "TRUNCATE {table}"

    @pytest.fixture
    def store(self, url: str) -> Iterator[Store]:
        s = open_store(url)
        try:
            yield s
        finally:
            s.dispose()

    def test_append_assigns_positions_in_order_and_links_the_chain(self, store: Store) -> None:
        with store.appending() as app:
            got = [app.append("note", _record(i=i)) for i in range(5)]
        assert got == [1, 2, 3, 4, 5]
        with store.appending() as app:
            assert app.position == 5
            got = [app.append("note", _record(i=i)) for i in range(5, 8)]
        assert got == [6, 7, 8]
        with store.reading() as conn:
            rows = conn.execute(sa.select(log).order_by(log.c.position)).all()
        link = chain.GENESIS
        for row in rows:
            link = chain.link(link, bytes(row.body))
            assert bytes(row.hash) == link, row.position
        assert store.head() == (8, link)

    def test_every_fact_table_takes_rows_from_the_appender(self, store: Store) -> None:
        with store.appending() as app:
            pos = app.append("note", _record(all=True))
            for table in FACT_TABLES:
                if table is not log and table is not merkle_nodes:  # the appender writes the tree
                    app.add(table, _dummy_row(table, pos))
        with store.reading() as conn:
            for table in FACT_TABLES:
                assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 1

    def test_a_failed_block_appends_nothing(self, store: Store) -> None:
        with store.appending() as app:
            app.append("note", _record(i=0))
        head = store.head()
        with pytest.raises(RuntimeError), store.appending() as app:
            for i in range(1, 50):
                app.append("note", _record(i=i))
                if i % 10 == 0:
                    app.flush()  # written inside the transaction, then rolled back
            raise RuntimeError("the caller gives up")
        assert store.head() == head and _positions(store) == [1]

    def test_a_database_error_appends_nothing_and_is_a_store_error(self, store: Store) -> None:
        with store.appending() as app:
            app.append("note", _record(i=0))
        head = store.head()
        with pytest.raises(StoreError), store.appending() as app:
            app.append("note", _record(i=1))
            app.add(log, (1, "note", b"{}", b"0"))  # position 1 again: a primary key violation
        assert store.head() == head and _positions(store) == [1]

    def test_background_flushes_write_every_row_in_order(self, store: Store) -> None:
        # flush(wait=False) sends in a thread where the backend allows it (the caller builds the next
        # batch meanwhile), with the GIL switched faster while a send is in flight; afterwards the
        # process's switch interval is what it was.
        before = sys.getswitchinterval()
        with store.appending() as app:
            for i in range(40):
                app.append("note", _record(i=i))
                if i % 7 == 6:
                    app.flush(wait=False)
                    if store.background_writes:
                        assert sys.getswitchinterval() < before  # a send is in flight until the join
        assert sys.getswitchinterval() == before
        assert _positions(store) == list(range(1, 41))
        with store.reading() as conn:
            bodies = [
                bytes(b) for b in conn.execute(sa.select(log.c.body).order_by(log.c.position)).scalars()
            ]
        assert [orjson.loads(b)["record"]["i"] for b in bodies] == list(range(40))

    def test_a_failed_background_flush_appends_nothing(self, store: Store) -> None:
        with store.appending() as app:
            app.append("note", _record(i=0))
        head, before = store.head(), sys.getswitchinterval()
        with pytest.raises(StoreError), store.appending() as app:
            app.append("note", _record(i=1))
            app.add(log, (1, "note", b"{}", b"0"))  # position 1 again: a primary key violation
            app.flush(wait=False)
            for i in range(2, 20):  # the caller goes on until the error reaches it
                app.append("note", _record(i=i))
        assert store.head() == head and _positions(store) == [1]
        assert sys.getswitchinterval() == before

    @pytest.mark.slow
    def test_concurrent_writers_never_interleave_and_readers_never_see_a_gap(self, store: Store) -> None:
        writers, per_block, blocks = 4, 8, 3
        errors: list[BaseException] = []
        done = threading.Event()
        seen: list[int] = []

        def write(w: int) -> None:
            try:
                for b in range(blocks):
                    with store.appending() as app:
                        for k in range(per_block):
                            app.append("note", _record(w=w, b=b, k=k))
                            app.flush()
                            time.sleep(0.002)  # hold the lock: another writer must wait, not interleave
            except BaseException as exc:
                errors.append(exc)

        def read() -> None:
            try:
                while not done.is_set():
                    got = _positions(store)
                    assert got == list(range(1, len(got) + 1)), "a reader saw a gap"
                    assert not seen or len(got) >= seen[-1], "a reader saw positions go away"
                    seen.append(len(got))
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        reader.join()
        assert errors == []
        assert len(seen) > 1
        with store.reading() as conn:
            bodies = [
                orjson.loads(bytes(b))
                for b in conn.execute(sa.select(log.c.body).order_by(log.c.position)).scalars()
            ]
        records = [(f["record"]["w"], f["record"]["b"], f["record"]["k"]) for f in bodies]
        assert len(records) == writers * per_block * blocks
        # Each block is one run of consecutive positions, in the order its writer appended.
        for start in range(0, len(records), per_block):
            block = records[start : start + per_block]
            assert {(w, b) for w, b, _ in block} == {block[0][:2]}
            assert [k for _, _, k in block] == list(range(per_block))

    @pytest.mark.parametrize(
        "statement", ["UPDATE {table} SET {col} = {col}", "DELETE FROM {table}", "truncate"]
    )
    def test_the_database_refuses_changes_to_every_fact_table(self, store: Store, statement: str) -> None:
        with store.appending() as app:
            pos = app.append("note", _record(i=0))
            for table in FACT_TABLES:
                if table is not log and table is not merkle_nodes:  # the appender writes the tree
                    app.add(table, _dummy_row(table, pos))
        sql = self.truncate if statement == "truncate" else statement
        for table in FACT_TABLES:
            col = next(iter(table.columns)).name
            with store.engine.connect() as conn:
                with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                    conn.execute(sa.text(sql.format(table=f'"{table.name}"', col=f'"{col}"')))
                conn.rollback()
        with store.reading() as conn:
            for table in FACT_TABLES:
                assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 1


class TestSqliteStore(StoreContract):
    truncate = "DELETE FROM {table}"

    @pytest.fixture
    def url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    @pytest.fixture
    def url(self, pg_url: str) -> str:
        return pg_url


def test_the_quick_switch_is_counted_across_writers() -> None:
    # Two writers in one process (a service's threads): the interval comes back only when the last
    # send ends, whichever order they end in, and then to what it was before the first.
    from reetrace.store.base import _QuickSwitch

    before = sys.getswitchinterval()
    _QuickSwitch.enter()
    _QuickSwitch.enter()
    assert sys.getswitchinterval() == pytest.approx(min(before, _QuickSwitch.INTERVAL))
    _QuickSwitch.leave()
    assert sys.getswitchinterval() == pytest.approx(min(before, _QuickSwitch.INTERVAL))
    _QuickSwitch.leave()
    assert sys.getswitchinterval() == before
