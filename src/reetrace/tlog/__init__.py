"""The transparency log: a Merkle tree over the log's frames, signed checkpoints and receipts.

This package is the prover side. :mod:`reetrace.verifier` checks its output and is written separately
from the RFC so that one misreading of the RFC cannot hide in both. Formats: docs/transparency-log.md.
"""

from reetrace.tlog.checkpoint import Checkpoint, read_checkpoint, sign_checkpoint
from reetrace.tlog.keys import KeyFileError, Signer, generate_key, load_key
from reetrace.tlog.merkle import (
    MemoryNodes,
    MissingNodes,
    NodeReader,
    append_leaves,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    range_proof,
    root,
)
from reetrace.tlog.receipt import build_receipt

__all__ = [
    "Checkpoint",
    "KeyFileError",
    "MemoryNodes",
    "MissingNodes",
    "NodeReader",
    "Signer",
    "append_leaves",
    "build_receipt",
    "consistency_proof",
    "generate_key",
    "inclusion_proof",
    "leaf_hash",
    "load_key",
    "range_proof",
    "read_checkpoint",
    "root",
    "sign_checkpoint",
]
