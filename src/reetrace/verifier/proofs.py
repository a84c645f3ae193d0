"""Merkle proof checks, step by step as RFC 9162 §2.1.3.2 and §2.1.4.2 write them, plus range proofs.

Each check recomputes a root from the proof and compares it with a root the caller already trusts;
nothing in the proof itself is trusted. The tree size and root must come *together* from one verified
checkpoint: the size fixes the shape of the path, and a proof checked against a root of another size can
fit by accident of shape. Sizes and indices are checked before any
hashing, and the proof must be used up exactly: a padded or truncated proof fails even where the extra
hash would be ignored (the lesson of immudb's GHSA-672p-m5jq-mrh8, where unchecked proof shapes let a
forged proof through).

Range proof (``RANGE(a, b, D[n])`` of docs/transparency-log.md): with the leaf hashes ``L`` of the
consecutive leaves ``a..b-1``, the root of ``D[n]`` is ``R(a, b, n, L)``; ``k`` is the largest power of
two smaller than ``n``; each recursive call reads its hashes from the proof before the sibling after it::

    R(a, b, n, L) = MTH(L)                                       if a = 0 and b = n
                  = H(R(a, b, k, L), next)                       if b <= k
                  = H(next, R(a-k, b-k, n-k, L))   (R first)     if a >= k
                  = H(R(a, k, k, L[:k-a]), R(0, b-k, n-k, L[k-a:]))   otherwise
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from reetrace.verifier.errors import VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``, RFC 9162 §2.1.1."""
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise VerificationError(f"{what}[{i}] is not a {HASH_SIZE}-byte hash")


def _check_root(what: str, root: bytes) -> None:
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        raise VerificationError(f"{what} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """The leaf hash ``leaf`` is leaf ``index`` (0-based) of the tree of ``size`` leaves with ``root``."""
    _check_hashes("inclusion proof", proof)
    _check_root("leaf hash", leaf)
    _check_root("root", root)
    if not 0 <= index < size:  # step 1
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn = index, size - 1  # step 2
    r = leaf  # step 3
    for p in proof:  # step 4
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the path for this index and size")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5
        raise VerificationError("inclusion proof is shorter than the path for this index and size")
    if r != root:
        raise VerificationError(f"inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """The tree of ``first`` leaves with ``first_root`` is a prefix of the tree of ``second`` leaves."""
    _check_hashes("consistency proof", proof)
    _check_root("first root", first_root)
    _check_root("second root", second_root)
    if first < 0 or second < first:
        raise VerificationError(f"no consistency from size {first} to size {second}")
    if first == 0:  # the RFC starts at 0 < first; the empty tree is a prefix of every tree
        if proof:
            raise VerificationError("consistency proof from the empty tree must be empty")
        if first_root != EMPTY_ROOT:
            raise VerificationError("root of size 0 is not the empty tree's hash")
        return
    if first == second:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise VerificationError(f"two different roots for size {first}: the log forked")
        return
    if not proof:  # step 1
        raise VerificationError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # step 2: first is a power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise VerificationError("consistency proof is longer than needed for these sizes")
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise VerificationError("consistency proof is shorter than needed for these sizes")
    if fr != first_root:
        raise VerificationError(f"consistency proof does not lead to the root of size {first}")
    if sr != second_root:
        raise VerificationError(f"consistency proof does not lead to the root of size {second}")


def _split(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def _mth(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(_mth(leaves[:k]), _mth(leaves[k:]))


class _Proof:
    def __init__(self, hashes: Sequence[bytes]) -> None:
        self._it: Iterator[bytes] = iter(hashes)

    def next(self) -> bytes:
        h = next(self._it, None)
        if h is None:
            raise VerificationError("range proof is shorter than needed for this range and size")
        return h

    def done(self) -> None:
        if next(self._it, None) is not None:
            raise VerificationError("range proof is longer than needed for this range and size")


def _range_root(a: int, b: int, n: int, leaves: Sequence[bytes], proof: _Proof) -> bytes:
    if a == 0 and b == n:
        return _mth(leaves)
    k = _split(n)
    if b <= k:
        left = _range_root(a, b, k, leaves, proof)
        return _node(left, proof.next())
    if a >= k:
        right = _range_root(a - k, b - k, n - k, leaves, proof)
        return _node(proof.next(), right)
    left = _range_root(a, k, k, leaves[: k - a], proof)
    return _node(left, _range_root(0, b - k, n - k, leaves[k - a :], proof))


def verify_range(first: int, leaves: Sequence[bytes], size: int, proof: Sequence[bytes], root: bytes) -> None:
    """The leaf hashes ``leaves`` are leaves ``first, first + 1, ...`` (0-based, consecutive) of the tree
    of ``size`` leaves with ``root``."""
    _check_hashes("range leaf", leaves)
    _check_hashes("range proof", proof)
    _check_root("root", root)
    if not leaves:
        raise VerificationError("a range proof needs at least one leaf")
    if first < 0 or first + len(leaves) > size:
        raise VerificationError(
            f"leaves {first}..{first + len(leaves) - 1} are not all in a tree of size {size}"
        )
    p = _Proof(proof)
    computed = _range_root(first, first + len(leaves), size, leaves, p)
    p.done()
    if computed != root:
        last = first + len(leaves) - 1
        raise VerificationError(f"range proof for leaves {first}..{last} does not match the root of {size}")
