"""The stored-node prover against the RFC 6962 vectors and against the naive RFC recursion."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from reetrace.tlog import merkle
from tests.tlog_helpers import CountingReader, Naive, build, entries

VECTORS = json.loads((Path(__file__).parent / "data" / "merkle-vectors.json").read_text())
N = 300
ENTRIES = entries(N)
NAIVE = Naive(ENTRIES)
LEAVES = [merkle.leaf_hash(e) for e in ENTRIES]
STORE = build(LEAVES)


def test_hashes_are_rfc_6962_domain_separated() -> None:
    assert merkle.EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert merkle.leaf_hash(b"").hex() == VECTORS["node_hashes"][0][0]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_rfc_6962_vectors(size: int) -> None:
    inputs = [bytes.fromhex(x) for x in VECTORS["leaf_inputs_hex"]]
    store = merkle.MemoryNodes()
    store.add(merkle.append_leaves(0, [merkle.leaf_hash(e) for e in inputs[:size]], store))
    assert merkle.root(size, store).hex() == VECTORS["root_hashes"][size]


def test_stored_nodes_match_the_rfc_6962_vectors() -> None:
    inputs = [bytes.fromhex(x) for x in VECTORS["leaf_inputs_hex"]]
    store = build([merkle.leaf_hash(e) for e in inputs], seed=5)
    expected = {
        (level, i): bytes.fromhex(h)
        for level, row in enumerate(VECTORS["node_hashes"])
        for i, h in enumerate(row)
    }
    assert store.nodes == expected


def test_every_root_up_to_300_matches_the_naive_tree() -> None:
    for n in range(N + 1):
        assert merkle.root(n, STORE) == NAIVE.mth(0, n), n


@pytest.mark.parametrize("seed", range(5))
def test_appending_in_random_batches_stores_each_complete_subtree_once(seed: int) -> None:
    rnd = random.Random(seed)
    store = merkle.MemoryNodes()
    size = 0
    while size < N:
        batch = LEAVES[size : size + rnd.choice([1, 1, 2, 3, 7, 16, 33, 100])]
        rows = merkle.append_leaves(size, batch, store)
        assert len({(lv, i) for lv, i, _ in rows}) == len(rows)
        assert not {(lv, i) for lv, i, _ in rows} & store.nodes.keys(), "a stored node was rewritten"
        store.add(rows)
        size += len(batch)
        assert merkle.root(size, store) == NAIVE.mth(0, size)
    assert store.nodes == STORE.nodes
    # exactly the perfect subtrees of the final tree, nothing more
    assert len(store.nodes) == sum(N >> level for level in range(N.bit_length()))
    for (level, i), h in store.nodes.items():
        assert h == NAIVE.mth(i << level, (i + 1) << level)


def test_append_reads_only_the_right_edge_in_one_batch() -> None:
    for size in range(N):
        reader = CountingReader(STORE)
        merkle.append_leaves(size, LEAVES[size : size + 5], reader)
        assert len(reader.calls) == 1
        assert reader.calls[0] == bin(size).count("1") <= size.bit_length()


def test_appending_nothing_changes_nothing() -> None:
    assert merkle.append_leaves(10, [], STORE) == []


def test_append_refuses_a_store_that_is_behind() -> None:
    with pytest.raises(merkle.MissingNodes):
        merkle.append_leaves(5, LEAVES[5:6], merkle.MemoryNodes())


def test_memory_nodes_refuse_to_change_a_node() -> None:
    store = merkle.MemoryNodes()
    store.add([(0, 0, LEAVES[0])])
    with pytest.raises(ValueError):
        store.add([(0, 0, LEAVES[1])])


def test_every_inclusion_proof_up_to_300_is_the_rfc_path() -> None:
    for n in range(1, N + 1):
        for i in range(n):
            assert merkle.inclusion_proof(i, n, STORE) == NAIVE.path(i, 0, n), (i, n)


def test_every_consistency_proof_up_to_300_is_the_rfc_proof() -> None:
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            assert merkle.consistency_proof(m, n, STORE) == NAIVE.proof(m, n), (m, n)
    assert merkle.consistency_proof(0, 7, STORE) == []


def test_every_range_proof_up_to_40_is_the_range_definition() -> None:
    for n in range(1, 41):
        for a in range(n):
            for b in range(a + 1, n + 1):
                assert merkle.range_proof(a, b - 1, n, STORE) == NAIVE.range(a, b, 0, n), (a, b, n)


def test_sampled_range_proofs_up_to_300_are_the_range_definition() -> None:
    rnd = random.Random(7)
    for _ in range(3000):
        n = rnd.randint(1, N)
        a = rnd.randrange(n)
        b = rnd.randint(a + 1, n)
        assert merkle.range_proof(a, b - 1, n, STORE) == NAIVE.range(a, b, 0, n), (a, b, n)


def test_a_one_leaf_range_proof_is_the_inclusion_proof() -> None:
    for n in range(1, 70):
        for i in range(n):
            assert merkle.range_proof(i, i, n, STORE) == merkle.inclusion_proof(i, n, STORE)


def test_every_read_is_one_batch_of_logarithmic_size() -> None:
    rnd = random.Random(3)
    for _ in range(2000):
        n = rnd.randint(1, N)
        i, j = sorted(rnd.randrange(n) for _ in range(2))
        log = n.bit_length()
        readers = [CountingReader(STORE) for _ in range(4)]
        merkle.root(n, readers[0])
        merkle.inclusion_proof(i, n, readers[1])
        merkle.consistency_proof(i + 1, n, readers[2])
        merkle.range_proof(i, j, n, readers[3])
        # a path, plus the perfect subtrees of its one sibling on the right edge; a range proof has
        # two paths (left and right boundary) plus one right-edge sibling's subtrees
        for reader, bound in zip(readers, (log, 2 * log, 2 * log, 3 * log), strict=True):
            assert len(reader.calls) <= 1  # none when the answer needs no node (an empty proof)
            assert sum(reader.calls) <= bound, (n, i, j)


def test_proofs_of_old_sizes_still_work_after_the_tree_grew() -> None:
    small = build(LEAVES[:100])
    assert merkle.inclusion_proof(3, 50, small) == merkle.inclusion_proof(3, 50, STORE)
    assert merkle.consistency_proof(50, 100, small) == NAIVE.proof(50, 100)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (merkle.inclusion_proof, (5, 5)),
        (merkle.inclusion_proof, (-1, 5)),
        (merkle.inclusion_proof, (0, 0)),
        (merkle.consistency_proof, (6, 5)),
        (merkle.consistency_proof, (-1, 5)),
        (merkle.range_proof, (3, 2, 5)),
        (merkle.range_proof, (3, 5, 5)),
        (merkle.root, (-1,)),
    ],
)
def test_impossible_requests_are_refused(call: object, args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        call(*args, STORE)  # type: ignore[operator]


def test_a_missing_node_is_an_error_not_a_wrong_answer() -> None:
    damaged = merkle.MemoryNodes({k: v for k, v in STORE.nodes.items() if k != (2, 2)})
    with pytest.raises(merkle.MissingNodes):
        merkle.root(12, damaged)
