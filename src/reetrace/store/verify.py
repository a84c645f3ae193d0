"""Verification: prove that nobody rewrote history behind the store's back.

``verify`` walks the log in position order and, for each record,
1. checks that positions run 1, 2, 3 … without a gap;
2. recomputes the chain link ``SHA-256(previous link || stored frame)`` and compares it with the stored
   link (any changed byte of any record, or a record inserted, removed or reordered, breaks it here);
3. re-derives the rows that record puts into the derived tables (events, lots, inputs, edges,
   submissions, registry tables, retractions) with the very functions the writers use, and compares them
   with the rows stored there, so that an edit of a derived table (which trace and audit read) is caught
   too, as is a row added to one.

The first mismatch is reported with its position. A checkpoint (position, link) kept outside the
database proves that the log still extends what it was when the checkpoint was taken.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import VerificationFailed
from reetrace.models import Event
from reetrace.store import chain
from reetrace.store.base import Store
from reetrace.store.derive import Row, event_rows, principal_row, registry_row, submission_row
from reetrace.store.schema import (
    PRINCIPAL_TABLES,
    REGISTRY_TABLES,
    edges,
    events,
    inputs,
    log,
    lots,
    retractions,
    submissions,
)

_DERIVED = (
    submissions, events, lots, inputs, edges, retractions, *REGISTRY_TABLES.values(),
    *PRINCIPAL_TABLES.values(),
)  # fmt: skip


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

    def take(self, position: int, expected: list[Row]) -> str | None:
        """Compare the stored rows of ``position`` with ``expected``; a reason on mismatch."""
        if self._next is not None and self._next[0] < position:
            return f"{self.table.name} has a row for position {self._next[0]} that no record explains"
        got: list[Row] = []
        while self._next is not None and self._next[0] == position:
            got.append(self._next)
            self._advance()
        if len(got) < len(expected):
            return f"{self.table.name} is missing a row of position {position}"
        if len(got) > len(expected):
            return f"{self.table.name} has an extra row for position {position}"
        # Rows of one position come back in key order, which the database's collation decides (edges are
        # keyed by lot text): compare them in an order of our own.
        for have, want in zip(sorted(got, key=repr), sorted(expected, key=repr), strict=True):
            if not _same(have, want):
                return f"{self.table.name} row differs from its record: stored {have!r}"
        return None

    def close(self) -> None:
        self._result.close()

    def leftover(self) -> int | None:
        return None if self._next is None else int(self._next[0])


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
    """Verify the whole store; raise :class:`VerificationFailed` at the first mismatch."""
    store.migrate()
    with store.engine.connect() as conn:
        # One snapshot for the log and every derived table, whatever writers do meanwhile.
        conn = store.sql.snapshot(conn)
        with conn.begin():
            cursors = {t.name: _TableCursor(conn, t) for t in _DERIVED}
            try:
                position, head = _walk(conn, cursors, against, progress)
                for name, cur in cursors.items():
                    extra = cur.leftover()
                    if extra is not None:
                        raise VerificationFailed(
                            extra, f"{name} has a row for position {extra} that no record explains"
                        )
            finally:
                for cur in cursors.values():
                    cur.close()
            _unique_event_ids(conn)
    checkpoint_ok: bool | None = None
    if against is not None:
        if position < against.position:
            raise VerificationFailed(
                position + 1,
                f"the log ends at position {position}, before the checkpoint's {against.position}: "
                "history was removed",
            )
        checkpoint_ok = True
    return VerifyResult(position, Checkpoint(position, head.hex()), checkpoint_ok)


def _walk(
    conn: Connection,
    cursors: dict[str, _TableCursor],
    against: Checkpoint | None,
    progress: Callable[[int], None] | None,
) -> tuple[int, bytes]:
    """Walk the log in order; return the last position and its link."""
    q = sa.select(log.c.position, log.c.kind, log.c.body, log.c.hash).order_by(log.c.position)
    with conn.execution_options(stream_results=True, yield_per=5000).execute(q) as rows:
        return _walk_rows(rows, conn, cursors, against, progress)


def _walk_rows(
    rows: Any,
    lookups: Connection,
    cursors: dict[str, _TableCursor],
    against: Checkpoint | None,
    progress: Callable[[int], None] | None,
) -> tuple[int, bytes]:
    prev = chain.GENESIS
    expected_pos = 0
    for pos, kind, body, stored in rows:
        expected_pos += 1
        body = bytes(body)
        if pos != expected_pos:
            raise VerificationFailed(expected_pos, f"position {expected_pos} is missing (next is {pos})")
        link = chain.link(prev, body)
        if link != bytes(stored):
            raise VerificationFailed(pos, "stored bytes or chain link do not match")
        if against is not None and pos == against.position and link.hex() != against.hash:
            raise VerificationFailed(pos, "the chain no longer passes through the checkpoint's hash")
        prev = link
        try:
            frame = orjson.loads(body)
            if frame.get("kind") != kind or frame.get("position") != pos:
                raise ValueError("frame kind or position differs from the row")
            expected = _expected_rows(lookups, frame)
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationFailed(pos, f"record cannot be read: {exc}") from exc
        for name, cur in cursors.items():
            reason = cur.take(pos, expected.get(name, []))
            if reason:
                raise VerificationFailed(pos, reason)
        if progress is not None:
            progress(1)
    return expected_pos, prev


def _expected_rows(lookups: Connection, frame: dict[str, Any]) -> dict[str, list[Row]]:
    kind = frame["kind"]
    pos = frame["position"]
    rec = frame["record"]
    if kind == "event":
        ev = Event.model_validate(rec)
        record = chain.canonical(rec)
        e, ls, ins, es = event_rows(pos, frame["submission"], frame["line"], rec, chain.digest(record))
        out: dict[str, list[Row]] = {"events": [e], "lots": ls, "inputs": ins, "edges": es}
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
        return out
    if kind == "submission":
        return {"submissions": [submission_row(pos, rec)]}
    if kind in REGISTRY_TABLES:
        return {REGISTRY_TABLES[kind].name: [registry_row(kind, pos, rec)]}
    if kind in PRINCIPAL_TABLES:
        return {PRINCIPAL_TABLES[kind].name: [principal_row(kind, pos, rec)]}
    raise ValueError(f"unknown record kind {kind!r}")


def _unique_event_ids(conn: Connection) -> None:
    q = (
        sa.select(sa.func.max(events.c.position))
        .group_by(events.c.enterprise, events.c.event_id)
        .having(sa.func.count() > 1)
        .order_by(sa.func.max(events.c.position))
        .limit(1)
    )
    dup = conn.execute(q).scalar()
    if dup is not None:
        raise VerificationFailed(int(dup), "event_id recorded twice for the same enterprise")
