"""The Merkle tree over the log, in the store: the ``merkle_nodes`` table (docs/transparency-log.md).

Writers keep the tree's *right edge* (:class:`Frontier`: one perfect subtree per 1-bit of the size, so
O(log n) hashes) in memory for the length of one write transaction: each batch of frames the
:class:`~reetrace.store.base.Appender` flushes becomes leaves, :func:`reetrace.tlog.merkle.append_leaves`
turns them into the nodes they complete, and those rows go out with the batch's log rows, in the same
transaction. Nothing is read during the transaction except the right edge, once, at its start.

:class:`TableNodes` is the :class:`~reetrace.tlog.merkle.NodeReader` over the table (one SELECT per
``get``); :class:`TreeCheck` is ``verify``'s rebuild of the table from the log in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import VerificationFailed
from reetrace.store.dialect import dialect_of, pairs
from reetrace.store.schema import merkle_nodes
from reetrace.tlog import merkle

Key = tuple[int, int]
NodeRow = tuple[int, int, bytes]


def edge_keys(size: int) -> list[Key]:
    """The perfect subtrees, largest first, whose right fold is the root of a tree of ``size`` leaves."""
    return [(lv, (size >> lv) - 1) for lv in range(size.bit_length() - 1, -1, -1) if size >> lv & 1]


def last_position(level: int, idx: int) -> int:
    """The log position of the last leaf under node ``(level, idx)``."""
    return (idx + 1) << level


class TableNodes:
    """A :class:`~reetrace.tlog.merkle.NodeReader` over ``merkle_nodes``: one SELECT per ``get``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        sql = dialect_of(conn)
        self._q = sa.text(
            f"SELECT level, idx, hash FROM merkle_nodes WHERE {sql.pair_member('level', 'idx', 'keys')}"
        )

    def get(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        wanted = list(keys)
        if not wanted:
            return {}
        rows = self.conn.execute(self._q, {"keys": pairs(wanted)})
        return {(int(lv), int(i)): bytes(h) for lv, i, h in rows}


class Frontier:
    """The right edge of a tree of ``size`` leaves: enough to append leaves and to compute the root."""

    def __init__(self, size: int = 0, nodes: dict[Key, bytes] | None = None) -> None:
        self.size = size
        self.nodes: dict[Key, bytes] = dict(nodes or {})

    @classmethod
    def load(cls, conn: Connection, size: int) -> Frontier:
        keys = edge_keys(size)
        nodes = TableNodes(conn).get(keys)
        if len(nodes) != len(keys):
            raise merkle.MissingNodes(
                f"merkle_nodes lacks the right edge of the tree of size {size}: the tree is behind the log"
            )
        return cls(size, nodes)

    def get(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        return {k: self.nodes[k] for k in keys if k in self.nodes}

    def append(self, leaves: Sequence[bytes]) -> list[NodeRow]:
        """Append leaf hashes; return the node rows they complete (to INSERT)."""
        if not leaves:
            return []
        rows = merkle.append_leaves(self.size, leaves, self)
        size = self.size + len(leaves)
        keys = edge_keys(size)
        wanted = set(keys)
        new = {(lv, i): h for lv, i, h in rows if (lv, i) in wanted}
        self.nodes = {k: new[k] if k in new else self.nodes[k] for k in keys}
        self.size = size
        return rows

    def root(self) -> bytes:
        if self.size == 0:
            return merkle.EMPTY_ROOT
        keys = edge_keys(self.size)
        acc = self.nodes[keys[-1]]
        for k in reversed(keys[:-1]):
            acc = merkle.node_hash(self.nodes[k], acc)
        return acc


def tree_head(conn: Connection) -> tuple[int, bytes, bytes]:
    """``(size, chain head, Merkle root)`` of the log as ``conn`` sees it (call inside one snapshot)."""
    row = conn.execute(sa.text("SELECT position, hash FROM log ORDER BY position DESC LIMIT 1")).first()
    if row is None:
        return 0, bytes(32), merkle.EMPTY_ROOT
    size = int(row[0])
    return size, bytes(row[1]), merkle.root(size, TableNodes(conn))


def leaf_hashes(conn: Connection, first: int, last: int) -> list[bytes]:
    """The stored leaf hashes of log positions ``first..last``."""
    q = sa.select(merkle_nodes.c.hash).where(
        merkle_nodes.c.level == 0, merkle_nodes.c.idx >= first - 1, merkle_nodes.c.idx <= last - 1
    )
    return [bytes(h) for (h,) in conn.execute(q.order_by(merkle_nodes.c.idx))]


class _Level:
    """The stored nodes of one level, streamed in index order."""

    def __init__(self, conn: Connection, level: int) -> None:
        q = (
            sa.select(merkle_nodes.c.idx, merkle_nodes.c.hash)
            .where(merkle_nodes.c.level == level)
            .order_by(merkle_nodes.c.idx)
        )
        self.level = level
        self._result = conn.execution_options(stream_results=True, yield_per=5000).execute(q)
        self._rows: Iterator[Any] = iter(self._result)
        self.next: tuple[int, bytes] | None = None
        self._advance()

    def _advance(self) -> None:
        row = next(self._rows, None)
        self.next = None if row is None else (int(row[0]), bytes(row[1]))

    def expect(self, idx: int, h: bytes) -> None:
        lv = self.level
        if self.next is not None and self.next[0] < idx:
            i = self.next[0]
            raise VerificationFailed(
                last_position(lv, i), f"merkle_nodes has a node ({lv}, {i}) that no record explains"
            )
        if self.next is None or self.next[0] != idx:
            raise VerificationFailed(last_position(lv, idx), f"merkle_nodes is missing node ({lv}, {idx})")
        if self.next[1] != h:
            raise VerificationFailed(
                last_position(lv, idx),
                f"merkle_nodes node ({lv}, {idx}) differs from the tree of the log "
                f"(positions {(idx << lv) + 1}..{last_position(lv, idx)})",
            )
        self._advance()

    def close(self) -> None:
        self._result.close()


class TreeCheck:
    """``verify``'s rebuild of the tree: leaves streamed in log order, nodes recomputed in chunks with a
    :class:`Frontier` (O(log n) memory besides one chunk) and compared with the stored rows, which are
    read one level at a time in index order (the primary key)."""

    def __init__(self, conn: Connection, chunk: int = 4096) -> None:
        self.conn = conn
        self.chunk = chunk
        self.frontier = Frontier()
        self._pending: list[bytes] = []
        self._levels: dict[int, _Level] = {}

    def watch(self, rows: Iterable[Any]) -> Iterator[Any]:
        """Pass ``(position, kind, body, hash)`` rows through, taking each body as the next leaf."""
        for row in rows:
            self._pending.append(merkle.leaf_hash(bytes(row[2])))
            yield row
            if len(self._pending) >= self.chunk:
                self._check()

    def _check(self) -> None:
        rows = self.frontier.append(self._pending)
        self._pending = []
        for lv, i, h in rows:
            level = self._levels.get(lv)
            if level is None:
                level = self._levels[lv] = _Level(self.conn, lv)
            level.expect(i, h)

    def finish(self) -> bytes:
        """Check the last chunk and that nothing is left over; return the root."""
        self._check()
        for level in self._levels.values():
            if level.next is not None:
                lv, i = level.level, level.next[0]
                raise VerificationFailed(
                    last_position(lv, i), f"merkle_nodes has a node ({lv}, {i}) that no record explains"
                )
        top = max(self._levels, default=-1)
        extra = self.conn.execute(
            sa.select(merkle_nodes.c.level, merkle_nodes.c.idx)
            .where(merkle_nodes.c.level > top)
            .order_by(merkle_nodes.c.level, merkle_nodes.c.idx)
            .limit(1)
        ).first()
        if extra is not None:
            lv, i = int(extra[0]), int(extra[1])
            raise VerificationFailed(
                last_position(lv, i), f"merkle_nodes has a node ({lv}, {i}) that no record explains"
            )
        return self.frontier.root()

    def close(self) -> None:
        for level in self._levels.values():
            level.close()


def check_checkpoints(conn: Connection, size: int) -> None:
    """Every stored signed checkpoint must name a size the log has and that size's stored root (the
    nodes were checked against the log just before)."""
    from reetrace.tlog.checkpoint import read_checkpoint

    reader = TableNodes(conn)
    for stored_size, note in conn.execute(sa.text("SELECT size, note FROM checkpoints ORDER BY size")):
        cp = read_checkpoint(note)
        if cp.size != stored_size or cp.size > size:
            raise VerificationFailed(
                min(int(stored_size), size + 1), f"stored checkpoint of size {cp.size} is beyond the log"
            )
        if cp.root != merkle.root(cp.size, reader):
            raise VerificationFailed(
                cp.size, f"stored checkpoint of size {cp.size} has another root than the tree"
            )
