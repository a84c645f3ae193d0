"""The Merkle tree over the log (RFC 9162 §2.1), stored as immutable perfect subtrees.

Hashing (RFC 9162 §2.1.1): the leaf of log position ``p`` is leaf index ``p - 1`` and hashes as
``leaf_hash(frame) = SHA-256(0x00 || frame)``; an inner node as ``SHA-256(0x01 || left || right)``; the
empty tree as ``SHA-256("")``. ``MTH`` below is the RFC's Merkle Tree Hash.

Storage. Node ``(level, index)`` is ``MTH`` of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. A node is stored once its
last leaf exists and never changes afterwards, so the node table is append-only like the log itself, and
a tree of any earlier size can still be proven from it. Every subtree that the RFC's recursion visits,
``D[a:b]``, starts at a multiple of the largest power of two not smaller than ``b - a``; its ``MTH`` is
therefore the right fold ``H(c1, H(c2, ... H(c_{k-1}, c_k)))`` of the perfect subtrees ``c1..ck`` given by
the binary digits of ``b - a``, largest first (:func:`_decompose`). Every function here first works out
which stored nodes it needs (O(log n) of them), reads them in one batched :meth:`NodeReader.get`, and
only then hashes.

Proofs. :func:`inclusion_proof` is ``PATH(m, D[n])`` (§2.1.3.1) and :func:`consistency_proof` is
``PROOF(m, D[n])`` (§2.1.4.1), so any RFC 9162 verifier accepts them.

Range proof. :func:`range_proof` proves a run of consecutive leaves ``[first, last]`` (0-based, both
included) of a tree of ``n`` leaves with O(log n) hashes, instead of one path per leaf. With half-open
``a = first``, ``b = last + 1`` (``0 <= a < b <= n``), it is ``RANGE(a, b, D[n])``, where ``:`` appends
and ``k`` is the largest power of two smaller than ``n``::

    RANGE(a, b, D[n]) = {}                                   if a = 0 and b = n
                      = RANGE(a, b, D[0:k]) : MTH(D[k:n])    if b <= k
                      = RANGE(a-k, b-k, D[k:n]) : MTH(D[0:k])  if a >= k
                      = RANGE(a, k, D[0:k]) : RANGE(0, b-k, D[k:n])   otherwise

A verifier holding the leaf hashes ``L`` of the range recomputes the root with ``R(a, b, n, L)``, reading
the proof front to back and failing if it runs out or has hashes left over:

    R(a, b, n, L) = MTH over L                         if a = 0 and b = n (L has n hashes)
                  = H(R(a, b, k, L), next)             if b <= k
                  = H(next', R(a-k, b-k, n-k, L))      if a >= k, where the recursive call reads its
                                                       hashes first and ``next'`` is read after them
                  = H(R(a, k, k, L[:k-a]), R(0, b-k, n-k, L[k-a:]))   otherwise (left part first)

(in every case the recursive call consumes its part of the proof before the sibling that follows it).
For a single leaf (``b = a + 1``) this is exactly ``PATH(a, D[n])``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

Key = tuple[int, int]  # (level, index)

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash of one log frame: the 0x00 prefix keeps a leaf from passing for a node."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 inner node hash."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class MissingNodes(LookupError):
    """The node store lacks nodes a computation needs: it is behind the log, or was damaged."""


class NodeReader(Protocol):
    """Batched read access to the stored nodes.

    ``get`` returns the hashes of the requested keys that exist; absent keys are simply left out (the
    caller decides whether that is an error). One call should be one round trip to the database.
    """

    def get(self, keys: Iterable[Key]) -> dict[Key, bytes]: ...


class MemoryNodes:
    """A :class:`NodeReader` over a dict, for tests and for building a tree in memory."""

    def __init__(self, nodes: Mapping[Key, bytes] | None = None) -> None:
        self.nodes: dict[Key, bytes] = dict(nodes or {})

    def get(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        return {k: self.nodes[k] for k in keys if k in self.nodes}

    def add(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Store the rows :func:`append_leaves` returned (refusing to change a stored node)."""
        for level, index, h in rows:
            old = self.nodes.setdefault((level, index), h)
            if old != h:
                raise ValueError(f"node ({level}, {index}) is already stored with another hash")


# --- geometry ------------------------------------------------------------------------------------------


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): where the RFC splits ``D[n]``."""
    return 1 << ((n - 1).bit_length() - 1)


def _decompose(a: int, b: int) -> list[Key]:
    """The perfect subtrees, largest first, whose right fold is ``MTH(D[a:b])`` (a subtree of the RFC
    recursion, so ``a`` is aligned to every chunk)."""
    keys: list[Key] = []
    start = a
    for level in range((b - a).bit_length() - 1, -1, -1):
        if (b - a) >> level & 1:
            if start % (1 << level):
                raise AssertionError(f"[{a}, {b}) is not a subtree of the RFC 9162 recursion")
            keys.append((level, start >> level))
            start += 1 << level
    return keys


def _fold(keys: Sequence[Key], nodes: Mapping[Key, bytes]) -> bytes:
    acc = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        acc = node_hash(nodes[key], acc)
    return acc


def _read(reader: NodeReader, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """``MTH(D[a:b])`` of each range, from one batched read of the perfect subtrees they consist of."""
    parts = [_decompose(a, b) for a, b in ranges]
    wanted = {k for p in parts for k in p}
    nodes = reader.get(wanted)
    missing = wanted - nodes.keys()
    if missing:
        raise MissingNodes(f"node store lacks {len(missing)} node(s), e.g. {min(missing)}")
    return [_fold(p, nodes) for p in parts]


def _check_size(size: int) -> None:
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")


# --- prover ----------------------------------------------------------------------------------------------


def append_leaves(
    size_before: int, leaf_hashes: Sequence[bytes], reader: NodeReader
) -> list[tuple[int, int, bytes]]:
    """The nodes ``(level, index, hash)`` that become complete when ``leaf_hashes`` are appended to a tree
    of ``size_before`` leaves: the leaves themselves (level 0) and every perfect subtree they complete.

    Only the right-edge perfect subtrees of the old tree (one per 1-bit of ``size_before``) can combine
    with new leaves, so those are the only nodes read, in one batched ``get``.
    """
    _check_size(size_before)
    if any(len(h) != 32 for h in leaf_hashes):
        raise ValueError("leaf hashes must be 32 bytes")
    size_after = size_before + len(leaf_hashes)
    if not leaf_hashes:
        return []
    edge = _decompose(0, size_before) if size_before else []
    old = reader.get(edge)
    if len(old) != len(edge):
        raise MissingNodes(f"node store lacks right-edge nodes of a tree of size {size_before}")
    out: list[tuple[int, int, bytes]] = []
    level_nodes = {size_before + i: h for i, h in enumerate(leaf_hashes)}
    level = 0
    while level_nodes:  # level_nodes: the new complete nodes of this level
        out.extend((level, i, h) for i, h in level_nodes.items())
        done = size_before >> level  # complete nodes at this level before the append
        if done % 2:  # the old right-edge node of this level pairs with the first new one
            level_nodes[done - 1] = old[(level, done - 1)]
        level += 1
        level_nodes = {
            j: node_hash(level_nodes[2 * j], level_nodes[2 * j + 1])
            for j in range(size_before >> level, size_after >> level)
        }
    return out


def root(size: int, reader: NodeReader) -> bytes:
    """``MTH(D[size])``: the fold of the perfect subtrees given by the binary digits of ``size``."""
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _read(reader, [(0, size)])[0]


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose ``MTH`` make up ``PATH(index, D[size])``, leaf end first."""
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    return out[::-1]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """``PATH(index, D[size])`` (RFC 9162 §2.1.3.1) for the leaf at 0-based ``index``."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return _read(reader, _path_ranges(index, size))


def _subproof_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The subtrees whose ``MTH`` make up ``PROOF(m, D[n])`` (RFC 9162 §2.1.4.1), in order."""
    out: list[tuple[int, int]] = []  # built root-first, reversed at the end
    lo, hi, complete = 0, n, True
    while hi != m:
        k = _split(hi - lo)
        if m - lo <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            complete = False
    if not complete:
        out.append((lo, hi))
    return out[::-1]


def consistency_proof(m: int, n: int, reader: NodeReader) -> list[bytes]:
    """``PROOF(m, D[n])`` (RFC 9162 §2.1.4.1): tree ``m`` is a prefix of tree ``n``.

    For ``m == 0`` or ``m == n`` the proof is empty (the RFC defines ``0 < m < n``; an empty tree is a
    prefix of every tree, and a tree of itself).
    """
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from size {m} to size {n}")
    if m in (0, n):
        return []
    return _read(reader, _subproof_ranges(m, n))


def _range_ranges(a: int, b: int, n: int) -> list[tuple[int, int]]:
    """The subtrees whose ``MTH`` make up ``RANGE(a, b, D[n])`` (see the module docstring), in order."""

    def walk(lo: int, hi: int, a: int, b: int) -> list[tuple[int, int]]:
        if a == lo and b == hi:
            return []
        k = lo + _split(hi - lo)
        if b <= k:
            return [*walk(lo, k, a, b), (k, hi)]
        if a >= k:
            return [*walk(k, hi, a, b), (lo, k)]
        return [*walk(lo, k, a, k), *walk(k, hi, k, b)]

    return walk(0, n, a, b)


def range_proof(first: int, last: int, size: int, reader: NodeReader) -> list[bytes]:
    """``RANGE(first, last + 1, D[size])``: the hashes that, with the leaf hashes of leaves
    ``first..last`` (0-based, both included), recompute the root of the tree of ``size`` leaves."""
    if not 0 <= first <= last < size:
        raise ValueError(f"leaf range [{first}, {last}] is not in a tree of size {size}")
    return _read(reader, _range_ranges(first, last + 1, size))
