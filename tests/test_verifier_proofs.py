"""The verifier accepts every proof the prover makes and refuses forged ones (GHSA-672p-m5jq-mrh8)."""

from __future__ import annotations

import random

import pytest

from reetrace.tlog import merkle
from reetrace.verifier import VerificationError, verify_consistency, verify_inclusion, verify_range
from tests.tlog_helpers import Naive, build, entries

N = 300
NAIVE = Naive(entries(N, seed=11))
LEAVES = [merkle.leaf_hash(e) for e in NAIVE.entries]
STORE = build(LEAVES, seed=12)
ROOTS = [NAIVE.mth(0, n) for n in range(N + 1)]


def refused(call: object, *args: object, match: str | None = None) -> None:
    with pytest.raises(VerificationError, match=match):
        call(*args)  # type: ignore[operator]


# --- the prover's proofs verify -----------------------------------------------------------------------


def test_every_inclusion_proof_up_to_300_verifies() -> None:
    for n in range(1, N + 1):
        for i in range(n):
            verify_inclusion(LEAVES[i], i, n, merkle.inclusion_proof(i, n, STORE), ROOTS[n])


def test_every_consistency_proof_up_to_300_verifies() -> None:
    for n in range(1, N + 1):
        for m in range(0, n + 1):
            verify_consistency(m, n, merkle.consistency_proof(m, n, STORE), ROOTS[m], ROOTS[n])


def test_range_proofs_verify() -> None:
    cases = [(a, b, n) for n in range(1, 33) for a in range(n) for b in range(a + 1, n + 1)]
    rnd = random.Random(13)
    for _ in range(2000):
        n = rnd.randint(1, N)
        a = rnd.randrange(n)
        cases.append((a, rnd.randint(a + 1, n), n))
    for a, b, n in cases:
        verify_range(a, LEAVES[a:b], n, merkle.range_proof(a, b - 1, n, STORE), ROOTS[n])


# --- forged inclusion proofs --------------------------------------------------------------------------


def test_a_proof_is_refused_for_any_other_index_or_size() -> None:
    """Size and root come as a pair from one checkpoint; a proof made for another pair never fits."""
    for n in range(1, 41):
        for i in range(n):
            proof = merkle.inclusion_proof(i, n, STORE)
            for j in range(n):
                if j != i:
                    refused(verify_inclusion, LEAVES[i], j, n, proof, ROOTS[n])
            for other in range(i + 1, 45):
                if other != n:
                    refused(verify_inclusion, LEAVES[i], i, other, proof, ROOTS[other])


def test_a_proof_of_one_leaf_does_not_prove_another() -> None:
    proof = merkle.inclusion_proof(5, 20, STORE)
    refused(verify_inclusion, LEAVES[6], 5, 20, proof, ROOTS[20], match="does not lead to the root")


def test_truncated_and_padded_paths_are_refused() -> None:
    proof = merkle.inclusion_proof(5, 20, STORE)
    refused(verify_inclusion, LEAVES[5], 5, 20, proof[:-1], ROOTS[20], match="shorter")
    refused(verify_inclusion, LEAVES[5], 5, 20, [*proof, ROOTS[20]], ROOTS[20], match="longer")
    refused(verify_inclusion, LEAVES[5], 5, 20, [*proof, bytes(32)], ROOTS[20], match="longer")


def test_swapped_siblings_are_refused() -> None:
    proof = merkle.inclusion_proof(5, 20, STORE)
    for k in range(len(proof) - 1):
        swapped = [*proof]
        swapped[k], swapped[k + 1] = swapped[k + 1], swapped[k]
        refused(verify_inclusion, LEAVES[5], 5, 20, swapped, ROOTS[20])


def test_index_outside_the_tree_is_refused_before_hashing() -> None:
    refused(verify_inclusion, LEAVES[0], 20, 20, [], ROOTS[20], match="not in a tree of size 20")
    refused(verify_inclusion, LEAVES[0], -1, 20, [], ROOTS[20], match="not in a tree")
    refused(verify_inclusion, LEAVES[0], 0, 0, [], ROOTS[0], match="not in a tree of size 0")


def test_an_interior_node_cannot_pass_for_a_leaf() -> None:
    # node (1, 0) = H(leaf 0, leaf 1) with the rest of leaf 0's path does lead to the root of size 4, but
    # the checkpoint's size fixes the path length, so the short path is refused
    proof = merkle.inclusion_proof(0, 4, STORE)
    refused(verify_inclusion, STORE.nodes[(1, 0)], 0, 4, proof[1:], ROOTS[4], match="shorter")
    refused(verify_inclusion, STORE.nodes[(1, 0)], 1, 4, proof[1:], ROOTS[4], match="shorter")


def test_hashes_of_the_wrong_length_are_refused() -> None:
    proof = merkle.inclusion_proof(5, 20, STORE)
    refused(verify_inclusion, LEAVES[5], 5, 20, [*proof[:-1], proof[-1][:31]], ROOTS[20], match="32-byte")
    refused(verify_inclusion, LEAVES[5][:31], 5, 20, proof, ROOTS[20], match="32-byte")


# --- forged consistency proofs ------------------------------------------------------------------------


def test_consistency_m_greater_than_n_is_refused() -> None:
    refused(verify_consistency, 8, 7, [], ROOTS[8], ROOTS[7], match="no consistency")


def test_consistency_from_the_empty_tree() -> None:
    verify_consistency(0, 9, [], ROOTS[0], ROOTS[9])
    refused(verify_consistency, 0, 9, [ROOTS[9]], ROOTS[0], ROOTS[9], match="must be empty")
    refused(verify_consistency, 0, 9, [], ROOTS[3], ROOTS[9], match="empty tree")
    verify_consistency(0, 0, [], ROOTS[0], ROOTS[0])


def test_consistency_between_equal_sizes() -> None:
    verify_consistency(9, 9, [], ROOTS[9], ROOTS[9])
    refused(verify_consistency, 9, 9, [], ROOTS[9], ROOTS[8], match="forked")
    refused(verify_consistency, 9, 9, [ROOTS[9]], ROOTS[9], ROOTS[9], match="must be empty")


def test_an_empty_consistency_proof_is_refused() -> None:
    refused(verify_consistency, 4, 8, [], ROOTS[4], ROOTS[8], match="empty")


def test_truncated_padded_and_misordered_consistency_proofs_are_refused() -> None:
    for m, n in [(3, 7), (4, 8), (6, 200), (1, 2), (37, 299)]:
        proof = merkle.consistency_proof(m, n, STORE)
        refused(verify_consistency, m, n, proof[:-1], ROOTS[m], ROOTS[n])
        refused(verify_consistency, m, n, [*proof, bytes(32)], ROOTS[m], ROOTS[n])
        if len(proof) > 1:
            refused(verify_consistency, m, n, proof[::-1], ROOTS[m], ROOTS[n])
        refused(verify_consistency, m, n + 1, proof, ROOTS[m], ROOTS[n + 1])
        refused(verify_consistency, m + 1, n, proof, ROOTS[m + 1], ROOTS[n])


def test_consistency_between_two_forks_is_refused() -> None:
    """Two logs share the first 50 entries and then differ: no proof links one's 60 to the other's 80."""
    fork = Naive([*NAIVE.entries[:50], *entries(30, seed=99)])
    fork_leaves = [merkle.leaf_hash(e) for e in fork.entries]
    fork_store = build(fork_leaves)
    verify_consistency(50, 80, merkle.consistency_proof(50, 80, fork_store), ROOTS[50], fork.mth(0, 80))
    for proof in (merkle.consistency_proof(60, 80, fork_store), merkle.consistency_proof(60, 80, STORE)):
        refused(verify_consistency, 60, 80, proof, ROOTS[60], fork.mth(0, 80))
        refused(verify_consistency, 60, 80, proof, fork.mth(0, 60), ROOTS[80])


def test_every_consistency_proof_is_refused_with_another_first_root() -> None:
    for n in range(2, 41):
        for m in range(1, n):
            proof = merkle.consistency_proof(m, n, STORE)
            refused(verify_consistency, m, n, proof, ROOTS[m - 1], ROOTS[n])
            refused(verify_consistency, m, n, proof, ROOTS[m], ROOTS[n - 1])


# --- forged range proofs ------------------------------------------------------------------------------


def test_forged_range_proofs_are_refused() -> None:
    a, b, n = 37, 90, 250
    leaves, proof, root = LEAVES[a:b], merkle.range_proof(a, b - 1, n, STORE), ROOTS[n]
    verify_range(a, leaves, n, proof, root)
    refused(verify_range, a, leaves, n, proof[:-1], root, match="shorter")
    refused(verify_range, a, leaves, n, [*proof, bytes(32)], root, match="longer")
    refused(verify_range, a + 1, leaves, n, proof, root)  # shifted
    refused(verify_range, a, leaves, n + 1, proof, ROOTS[n + 1])  # another checkpoint
    refused(verify_range, a, leaves[:-1], n, proof, root)  # a leaf left out
    refused(verify_range, a, [*leaves, LEAVES[b]], n, proof, root)  # a leaf smuggled in
    swapped = [*leaves]
    swapped[3], swapped[4] = swapped[4], swapped[3]
    refused(verify_range, a, swapped, n, proof, root, match="does not match the root")
    changed = [*leaves]
    changed[10] = merkle.leaf_hash(b"forged")
    refused(verify_range, a, changed, n, proof, root, match="does not match the root")
    refused(verify_range, a, leaves, n, proof[::-1], root)


def test_range_bounds_are_checked_before_hashing() -> None:
    refused(verify_range, 5, [], 10, [], ROOTS[10], match="at least one leaf")
    refused(verify_range, 8, LEAVES[8:11], 10, [], ROOTS[10], match="not all in a tree of size 10")
    refused(verify_range, -1, LEAVES[0:1], 10, [], ROOTS[10], match="not all in a tree")
