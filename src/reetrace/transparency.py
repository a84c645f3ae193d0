"""The transparency log on a store: signed checkpoints, receipts and proofs read from ``merkle_nodes``.

Every function reads inside one snapshot of the store, so the size, the root and the nodes a proof is
made of belong to the same tree. Signing needs the log's key (:func:`reetrace.tlog.load_key`); formats
are in docs/transparency-log.md. :class:`StoreSource` is what a witness reads when it is given the
database itself (``reetrace witness --db``); the HTTP service provides the same interface over the
network.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import ReetraceError
from reetrace.store import Store
from reetrace.store.tree import TableNodes, leaf_hashes, tree_head
from reetrace.tlog import merkle
from reetrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from reetrace.tlog.keys import Signer
from reetrace.tlog.receipt import build_receipt


class NoSuchSubmission(ReetraceError):
    """No recorded submission matches."""


@dataclass(frozen=True)
class TreeHead:
    """The log as one snapshot saw it: size (= last position), chain head and Merkle root."""

    size: int
    head: bytes
    root: bytes


@contextmanager
def _snapshot(store: Store) -> Iterator[Connection]:
    with store.reading() as conn:
        conn = store.sql.snapshot(conn)
        with conn.begin():
            yield conn


def _sign(conn: Connection, signer: Signer) -> tuple[int, str]:
    size, _, root = tree_head(conn)
    return size, sign_checkpoint(Checkpoint(signer.name, size, root), signer)


def _record(store: Store, size: int, note: str) -> None:
    """Keep the note in ``checkpoints`` (Ed25519 is deterministic: the same tree signs to the same
    note, so a second insert of a size changes nothing)."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO checkpoints (size, note) VALUES (:s, :n) ON CONFLICT (size) DO NOTHING"),
            {"s": size, "n": note},
        )


def tree_state(store: Store) -> TreeHead:
    """Size, chain head and Merkle root of the log, from one snapshot."""
    with _snapshot(store) as conn:
        return TreeHead(*tree_head(conn))


def latest_checkpoint(store: Store, signer: Signer) -> str:
    """The signed checkpoint (C2SP signed note) of the whole log now: origin = the key's name, size =
    the log's size, root = the Merkle root. Also kept in the store's ``checkpoints`` table, where
    witnesses read it."""
    with _snapshot(store) as conn:
        size, note = _sign(conn, signer)
    _record(store, size, note)
    return note


def stored_checkpoint(store: Store) -> str | None:
    """The newest signed checkpoint the log has issued, or None."""
    with store.reading() as conn:
        row = conn.execute(sa.text("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")).first()
    return None if row is None else str(row[0])


def receipt_at(store: Store, signer: Signer, envelope_position: int) -> str:
    """The receipt (``reetrace-receipt/1`` JSON) of the submission whose envelope is at
    ``envelope_position``, against a checkpoint of the whole log signed now."""
    with _snapshot(store) as conn:
        frame = conn.execute(
            sa.text("SELECT body FROM log WHERE position = :p AND kind = 'submission'"),
            {"p": envelope_position},
        ).scalar()
        if frame is None:
            raise NoSuchSubmission(f"no submission envelope at position {envelope_position}")
        last = conn.execute(
            sa.text("SELECT max(position) FROM events WHERE submission = :p"), {"p": envelope_position}
        ).scalar()
        last = envelope_position if last is None else int(last)
        leaves = leaf_hashes(conn, envelope_position + 1, last)
        size, note = _sign(conn, signer)
        receipt = build_receipt(bytes(frame), envelope_position, leaves, note, TableNodes(conn))
    _record(store, size, note)
    return receipt


def receipt_for(store: Store, signer: Signer, enterprise: str, period: str) -> str:
    """The receipt of the latest recorded submission of ``enterprise`` for ``period``."""
    with store.reading() as conn:
        pos = conn.execute(
            sa.text("SELECT max(position) FROM submissions WHERE enterprise = :e AND period = :p"),
            {"e": enterprise, "p": period},
        ).scalar()
    if pos is None:
        raise NoSuchSubmission(f"no submission of {enterprise} for {period} is recorded")
    return receipt_at(store, signer, int(pos))


def _check_sizes(conn: Connection, *sizes: int) -> None:
    size = tree_head(conn)[0]
    for n in sizes:
        if not 0 <= n <= size:
            raise ValueError(f"the log has {size} records; no tree of size {n}")


def consistency_proof(store: Store, first: int, second: int) -> list[bytes]:
    """RFC 9162 ``PROOF(first, D[second])``: the tree of ``first`` leaves is a prefix of ``second``'s."""
    with _snapshot(store) as conn:
        _check_sizes(conn, first, second)
        return merkle.consistency_proof(first, second, TableNodes(conn))


def inclusion_proof(store: Store, position: int, size: int) -> tuple[bytes, list[bytes], bytes]:
    """``(leaf hash, PATH(position - 1, D[size]), root of size)`` for the record at ``position``."""
    with _snapshot(store) as conn:
        _check_sizes(conn, size)
        reader = TableNodes(conn)
        proof = merkle.inclusion_proof(position - 1, size, reader)
        leaf = reader.get([(0, position - 1)])[(0, position - 1)]
        return leaf, proof, merkle.root(size, reader)


def root_at(store: Store, size: int) -> bytes:
    """The Merkle root of the log's first ``size`` records."""
    with _snapshot(store) as conn:
        _check_sizes(conn, size)
        return merkle.root(size, TableNodes(conn))


class StoreSource:
    """A witness's view of a log held in a database it can read (see :mod:`reetrace.witness`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.name = store.url

    def checkpoint(self) -> str:
        note = stored_checkpoint(self.store)
        if note is None:
            raise ReetraceError("the log has not issued a signed checkpoint yet (reetrace checkpoint --sign)")
        return note

    def consistency(self, first: int, second: int) -> list[bytes]:
        return consistency_proof(self.store, first, second)

    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        with _snapshot(self.store) as conn:
            return TableNodes(conn).get(keys)
