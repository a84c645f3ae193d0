"""Reference Merkle functions written straight from RFC 9162 §2.1 (and the RANGE definition of
docs/transparency-log.md), with no storage and no cleverness, to check the stored-node prover against."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from functools import cache

from reetrace.tlog import merkle


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Naive:
    """MTH, PATH, PROOF and RANGE over a fixed list of entries, memoised on (start, end) only so the
    exhaustive tests run in seconds; every value is still the RFC's recursive definition."""

    def __init__(self, entries: Sequence[bytes]) -> None:
        self.entries = list(entries)

    @cache  # noqa: B019 - instances live for one test module
    def mth(self, a: int, b: int) -> bytes:
        n = b - a
        if n == 0:
            return H(b"")
        if n == 1:
            return H(b"\x00" + self.entries[a])
        k = k_of(n)
        return H(b"\x01" + self.mth(a, a + k) + self.mth(a + k, b))

    def path(self, m: int, a: int, b: int) -> list[bytes]:
        n = b - a
        if n == 1:
            return []
        k = k_of(n)
        if m < k:
            return [*self.path(m, a, a + k), self.mth(a + k, b)]
        return [*self.path(m - k, a + k, b), self.mth(a, a + k)]

    def subproof(self, m: int, a: int, b: int, complete: bool) -> list[bytes]:
        n = b - a
        if m == n:
            return [] if complete else [self.mth(a, b)]
        k = k_of(n)
        if m <= k:
            return [*self.subproof(m, a, a + k, complete), self.mth(a + k, b)]
        return [*self.subproof(m - k, a + k, b, False), self.mth(a, a + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return self.subproof(m, 0, n, True)

    def range(self, lo: int, hi: int, a: int, b: int) -> list[bytes]:
        """RANGE(lo, hi, D[a:b]) with lo, hi absolute leaf indices, hi exclusive."""
        if lo == a and hi == b:
            return []
        k = a + k_of(b - a)
        if hi <= k:
            return [*self.range(lo, hi, a, k), self.mth(k, b)]
        if lo >= k:
            return [*self.range(lo, hi, k, b), self.mth(a, k)]
        return [*self.range(lo, k, a, k), *self.range(k, hi, k, b)]


def entries(n: int, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(rnd.randrange(0, 40)) for _ in range(n)]


def build(leaves: Sequence[bytes], seed: int = 2) -> merkle.MemoryNodes:
    """A node store holding ``leaves`` (hashes), appended in random batch sizes."""
    rnd = random.Random(seed)
    store = merkle.MemoryNodes()
    size = 0
    while size < len(leaves):
        batch = leaves[size : size + rnd.randint(1, 17)]
        store.add(merkle.append_leaves(size, batch, store))
        size += len(batch)
    return store


class CountingReader:
    """Wraps a reader and records the keys of each ``get``."""

    def __init__(self, inner: merkle.NodeReader) -> None:
        self.inner = inner
        self.calls: list[int] = []

    def get(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        wanted = list(keys)
        self.calls.append(len(wanted))
        return self.inner.get(wanted)
