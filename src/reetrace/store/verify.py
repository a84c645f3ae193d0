"""Verification: prove that nobody rewrote history behind the store's back.

``verify`` walks the log in position order and, for each record,
1. checks that positions run 1, 2, 3 … without a gap;
2. recomputes the chain link ``SHA-256(previous link || stored frame)`` and compares it with the stored
   link (any changed byte of any record, or a record inserted, removed or reordered, breaks it here);
3. re-derives the rows that record puts into the derived tables (events, lots, inputs, edges,
   documents, submissions, registry tables, retractions) with the very functions the writers use, and
   compares them with the rows stored there, so that an edit of a derived table (which trace, audit and
   search read) is caught too, as is a row added to one;
4. rebuilds the Merkle tree over the frames (leaf = frame) chunk by chunk in bounded memory and compares
   every node with ``merkle_nodes`` (:class:`reetrace.store.tree.TreeCheck`), and checks the root of
   every stored signed checkpoint against it.

Before the walk, the schema objects that trace and audit depend on — views, triggers, trigger
functions and rules — are compared with the definitions of a freshly migrated schema on the same kind of
database, as the database itself reports them (a redefined ``effective_edges`` view changes every trace
and audit without touching a row).

Every failure is reported, not just the first (up to :data:`MAX_FAILURES`, the rest counted): after a
mismatch the walk goes on from the stored link, so one bad record cannot hide later tampering. Memory
stays bounded whatever was accepted: everything streams in position order, and the rows of one very large
event are compared as a multiset digest rather than held in memory.

A checkpoint (position, link) kept outside the database proves that the log still extends what it was
when the checkpoint was taken.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import VerificationFailed
from reetrace.models import RECORDED, Event
from reetrace.store import chain
from reetrace.store.base import Store
from reetrace.store.derive import (
    Row,
    document_rows,
    edge_rows,
    event_rows,
    foreign_rows,
    principal_row,
    registry_row,
    submission_row,
)  # fmt: skip
from reetrace.store.schema import (
    PRINCIPAL_TABLES,
    REGISTRY_TABLES,
    documents,
    edges,
    events,
    foreign_links,
    inputs,
    log,
    lots,
    retractions,
    submissions,
)
from reetrace.store.tree import TreeCheck, check_checkpoints

_DERIVED = (
    submissions, events, lots, inputs, edges, retractions, *REGISTRY_TABLES.values(),
    *PRINCIPAL_TABLES.values(), foreign_links, documents,
)  # fmt: skip
#: Failures listed; the rest are counted.
MAX_FAILURES = 100
#: Rows of one position above this are compared as a multiset digest, not held in memory.
LARGE = 10_000


@dataclass(frozen=True)
class Checkpoint:
    position: int
    hash: str  # hex

    def to_bytes(self) -> bytes:
        return orjson.dumps({"position": self.position, "hash": self.hash})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Checkpoint:
        try:
            data = orjson.loads(raw)
            return cls(int(data["position"]), str(data["hash"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a reetrace checkpoint: {exc}") from exc


@dataclass(frozen=True)
class VerifyResult:
    records: int
    head: Checkpoint
    checkpoint_ok: bool | None

    def message(self) -> str:
        cp = "" if self.checkpoint_ok is None else "; the log extends the checkpoint"
        return (
            f"ok: {self.records} records, chain and derived tables match up to position "
            f"{self.head.position} (head {self.head.hash[:16]}…){cp}"
        )


def checkpoint(store: Store) -> Checkpoint:
    position, head = store.head()
    return Checkpoint(position, head.hex())


class _Failures:
    """Every failure found, in the order found, up to :data:`MAX_FAILURES`; the rest counted."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []
        self.more = 0

    def add(self, position: int, reason: str) -> None:
        if len(self.items) < MAX_FAILURES:
            self.items.append((position, reason))
        else:
            self.more += 1

    def raise_any(self) -> None:
        if self.items:
            # By position; the schema's failures (position 0) after the records', so that the message
            # names the damaged record an operator looks for, and counts the rest.
            items = sorted(self.items, key=lambda f: (f[0] == 0, f[0]))
            pos, reason = items[0]
            raise VerificationFailed(pos, reason, failures=items, more=self.more)


def _row_digest(row: Row) -> int:
    return int.from_bytes(hashlib.blake2b(repr(_normal(row)).encode(), digest_size=16).digest(), "big")


def _normal(row: Row) -> Row:
    # The comparison of _same, as text: -0.0 equals 0.0, NaN equals NaN.
    return tuple(0.0 if isinstance(v, float) and v == 0 else v for v in row)


class _TableCursor:
    """Rows of one derived table in position order, compared record by record."""

    def __init__(self, conn: Connection, table: sa.Table) -> None:
        self.table = table
        pk = list(table.primary_key.columns) or [table.c.position]
        q = sa.select(table).order_by(*pk)
        self._result = conn.execution_options(stream_results=True, yield_per=5000).execute(q)
        self._rows: Iterator[Row] = (tuple(r) for r in self._result)
        self._next: Row | None = None
        self._advance()

    def _advance(self) -> None:
        self._next = next(self._rows, None)

    def _unexplained(self, position: int, failures: _Failures) -> None:
        """Report (once per position) and pass the rows before ``position``: no record explains them."""
        while self._next is not None and self._next[0] < position:
            stray = int(self._next[0])
            failures.add(stray, f"{self.table.name} has a row for position {stray} that no record explains")
            while self._next is not None and self._next[0] == stray:
                self._advance()

    def skip(self, position: int, failures: _Failures) -> None:
        """Pass the rows of ``position`` unchecked (its record could not be read: reported already)."""
        self._unexplained(position, failures)
        while self._next is not None and self._next[0] == position:
            self._advance()

    def take(self, position: int, expected: list[Row], failures: _Failures) -> None:
        """Compare the stored rows of ``position`` with ``expected``; failures go to ``failures``."""
        self._unexplained(position, failures)
        got: list[Row] = []
        while self._next is not None and self._next[0] == position:
            got.append(self._next)
            self._advance()
            if len(got) > max(LARGE, len(expected)):  # more than expected: count the rest, keep none
                n = len(got) + self._count_rest(position)
                failures.add(
                    position, f"{self.table.name} has {n - len(expected)} extra rows for position {position}"
                )
                return
        reason = _compare(self.table.name, position, got, expected)
        if reason:
            failures.add(position, reason)

    def take_many(self, position: int, expected: Iterable[Row], failures: _Failures) -> None:
        """:meth:`take` for a very large event: counts and a multiset digest, in constant memory."""
        self._unexplained(position, failures)
        n_got = d_got = 0
        while self._next is not None and self._next[0] == position:
            n_got += 1
            d_got = (d_got + _row_digest(self._next)) % (1 << 128)
            self._advance()
        n_want = d_want = 0
        for row in expected:
            n_want += 1
            d_want = (d_want + _row_digest(row)) % (1 << 128)
        if n_got < n_want:
            failures.add(
                position, f"{self.table.name} is missing {n_want - n_got} rows of position {position}"
            )
        elif n_got > n_want:
            failures.add(
                position, f"{self.table.name} has {n_got - n_want} extra rows for position {position}"
            )
        elif d_got != d_want:
            failures.add(position, f"{self.table.name} rows of position {position} differ from its record")

    def _count_rest(self, position: int) -> int:
        n = 0
        while self._next is not None and self._next[0] == position:
            n += 1
            self._advance()
        return n

    def close(self) -> None:
        self._result.close()

    def leftovers(self, failures: _Failures) -> None:
        """Rows after the last record: none of them is explained."""
        while self._next is not None:
            self._unexplained(int(self._next[0]) + 1, failures)


def _compare(name: str, position: int, got: list[Row], expected: list[Row]) -> str | None:
    if len(got) < len(expected):
        return f"{name} is missing a row of position {position}"
    if len(got) > len(expected):
        return f"{name} has an extra row for position {position}"
    # Rows of one position come back in key order, which the database's collation decides (edges are
    # keyed by lot text): compare them in an order of our own.
    for have, want in zip(sorted(got, key=repr), sorted(expected, key=repr), strict=True):
        if not _same(have, want):
            return f"{name} row differs from its record: stored {have!r}"
    return None


def _same(got: Row, want: Row) -> bool:
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if isinstance(a, float) and isinstance(b, float):
            if not (a == b or (math.isnan(a) and math.isnan(b))):
                return False
        elif a != b:
            return False
    return True


def verify(
    store: Store,
    *,
    against: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Verify the whole store: schema objects, chain, derived rows. Raises :class:`VerificationFailed`
    listing every failure found (the first by position in its message)."""
    store.migrate()
    failures = _Failures()
    _schema(store, failures)
    with store.engine.connect() as conn:
        # One snapshot for the log and every derived table, whatever writers do meanwhile.
        conn = store.sql.snapshot(conn)
        with conn.begin():
            cursors = {t.name: _TableCursor(conn, t) for t in _DERIVED}
            tree = TreeCheck(conn, on_failure=lambda exc: failures.add(exc.position, exc.reason))
            try:
                position, head = _walk(conn, cursors, against, progress, failures, tree)
                if position == 0:
                    for name, cur in cursors.items():
                        if cur._next is not None:
                            failures.add(int(cur._next[0]), f"the log is empty but {name} has rows")
                for cur in cursors.values():
                    cur.leftovers(failures)
                tree.finish()
            finally:
                for cur in cursors.values():
                    cur.close()
                tree.close()
            _unique_event_ids(conn, failures)
            if not tree.broken:
                try:
                    check_checkpoints(conn, position)
                except VerificationFailed as exc:
                    failures.add(exc.position, exc.reason)
    checkpoint_ok: bool | None = None
    if against is not None:
        if position < against.position:
            failures.add(
                position + 1,
                f"the log ends at position {position}, before the checkpoint's {against.position}: "
                "history was removed",
            )
        checkpoint_ok = True
    failures.raise_any()
    return VerifyResult(position, Checkpoint(position, head.hex()), checkpoint_ok)


def _schema(store: Store, failures: _Failures) -> None:
    """The views, triggers, trigger functions and rules must be exactly what the migrations declare."""
    want = store.reference_schema_objects()
    with store.engine.connect() as conn:
        have = store.schema_objects(conn)
    for key in sorted(want):
        if key not in have:
            failures.add(0, f"{key} is missing")
        elif have[key] != want[key]:
            failures.add(0, f"{key} differs from its migration: {have[key][:200]}")
    for key in sorted(set(have) - set(want)):
        if not key.startswith(("view ", "function ")):  # an extra trigger or rule changes behaviour
            failures.add(0, f"{key} is not part of the schema: {have[key][:200]}")


def _walk(
    conn: Connection,
    cursors: dict[str, _TableCursor],
    against: Checkpoint | None,
    progress: Callable[[int], None] | None,
    failures: _Failures,
    tree: TreeCheck,
) -> tuple[int, bytes]:
    """Walk the log in order; return the last position and its link."""
    q = sa.select(log.c.position, log.c.kind, log.c.body, log.c.hash).order_by(log.c.position)
    with conn.execution_options(stream_results=True, yield_per=5000).execute(q) as rows:
        return _walk_rows(tree.watch(rows), conn, cursors, against, progress, failures)


def _walk_rows(
    rows: Any,
    lookups: Connection,
    cursors: dict[str, _TableCursor],
    against: Checkpoint | None,
    progress: Callable[[int], None] | None,
    failures: _Failures,
) -> tuple[int, bytes]:
    prev = chain.GENESIS
    expected_pos = 0
    for row in rows:
        pos, kind, body, stored = row.position, row.kind, row.body, row.hash
        expected_pos += 1
        body = bytes(body)
        stored = bytes(stored)
        if pos != expected_pos:
            gap = f"{expected_pos}" if pos == expected_pos + 1 else f"{expected_pos} to {pos - 1}"
            failures.add(expected_pos, f"position {gap} is missing (next is {pos})")
            expected_pos = pos
        link = chain.link(prev, body)
        if link != stored:
            failures.add(pos, "stored bytes or chain link do not match")
        if against is not None and pos == against.position and link.hex() != against.hash:
            failures.add(pos, "the chain no longer passes through the checkpoint's hash")
        prev = stored  # go on from the stored link: later records are judged on their own
        try:
            frame = orjson.loads(body)
            if frame.get("kind") != kind or frame.get("position") != pos:
                raise ValueError("frame kind or position differs from the row")
            expected, large = _expected_rows(lookups, frame)
        except (ValueError, KeyError, TypeError) as exc:
            failures.add(pos, f"record cannot be read: {exc}")
            for cur in cursors.values():
                cur.skip(pos, failures)
            continue
        for name, cur in cursors.items():
            if name in large:
                cur.take_many(pos, large[name], failures)
            else:
                cur.take(pos, expected.get(name, []), failures)
        if progress is not None:
            progress(1)
    return expected_pos, prev


def _expected_rows(
    lookups: Connection, frame: dict[str, Any]
) -> tuple[dict[str, list[Row]], dict[str, Iterable[Row]]]:
    """The rows a record explains; those of a very large event's edges as a stream."""
    kind = frame["kind"]
    pos = frame["position"]
    rec = frame["record"]
    if kind == "event":
        # A record accepted under an older rule stays readable (see models.RECORDED).
        ev = Event.model_validate(rec, context={RECORDED: True})
        record = chain.canonical(rec)
        n_edges = len(rec.get("inputs") or ()) * len(rec.get("outputs") or ())
        e, ls, ins, es = event_rows(
            pos, frame["submission"], frame["line"], rec, chain.digest(record), with_edges=n_edges <= LARGE
        )
        out: dict[str, list[Row]] = {
            "events": [e], "lots": ls, "inputs": ins, "edges": es, "documents": document_rows(pos, rec)
        }  # fmt: skip
        large: dict[str, Iterable[Row]] = {} if n_edges <= LARGE else {"edges": edge_rows(pos, rec)}
        if ev.type == "retract":
            # The target is an earlier event, whose row has already been verified against its record.
            target = lookups.execute(
                sa.select(events.c.position).where(
                    events.c.enterprise == ev.enterprise,
                    events.c.event_id == ev.retracts,
                    events.c.position < pos,
                )
            ).scalar()
            out["retractions"] = [(pos, target)] if target is not None else []
        return out, large
    if kind == "submission":
        return {"submissions": [submission_row(pos, rec)]}, {}
    if kind == "foreign":
        return {"foreign_links": foreign_rows(pos, rec)}, {}
    if kind in REGISTRY_TABLES:
        return {REGISTRY_TABLES[kind].name: [registry_row(kind, pos, rec)]}, {}
    if kind in PRINCIPAL_TABLES:
        return {PRINCIPAL_TABLES[kind].name: [principal_row(kind, pos, rec)]}, {}
    raise ValueError(f"unknown record kind {kind!r}")


def _unique_event_ids(conn: Connection, failures: _Failures) -> None:
    q = (
        sa.select(sa.func.max(events.c.position))
        .group_by(events.c.enterprise, events.c.event_id)
        .having(sa.func.count() > 1)
        .order_by(sa.func.max(events.c.position))
    )
    for (dup,) in conn.execute(q):
        failures.add(int(dup), "event_id recorded twice for the same enterprise")
