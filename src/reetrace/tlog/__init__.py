"""The transparency log: a Merkle tree over the log's frames, signed checkpoints and receipts.

This package is the prover side. :mod:`reetrace.verifier` checks its output and is written separately
from the RFC so that one misreading of the RFC cannot hide in both. Formats: docs/transparency-log.md.

Names are imported on first use (PEP 562): every append needs :mod:`reetrace.tlog.merkle` (the store
keeps the tree), while the checkpoint, key and receipt modules load ``cryptography`` (≈20 ms), which a
submission without a signature or a receipt never needs (``tests/test_public_api.py`` checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Checkpoint": "reetrace.tlog.checkpoint",
    "read_checkpoint": "reetrace.tlog.checkpoint",
    "sign_checkpoint": "reetrace.tlog.checkpoint",
    "KeyFileError": "reetrace.tlog.keys",
    "Signer": "reetrace.tlog.keys",
    "generate_key": "reetrace.tlog.keys",
    "load_key": "reetrace.tlog.keys",
    "MemoryNodes": "reetrace.tlog.merkle",
    "MissingNodes": "reetrace.tlog.merkle",
    "NodeReader": "reetrace.tlog.merkle",
    "append_leaves": "reetrace.tlog.merkle",
    "consistency_proof": "reetrace.tlog.merkle",
    "inclusion_proof": "reetrace.tlog.merkle",
    "leaf_hash": "reetrace.tlog.merkle",
    "range_proof": "reetrace.tlog.merkle",
    "root": "reetrace.tlog.merkle",
    "build_receipt": "reetrace.tlog.receipt",
}

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

if not TYPE_CHECKING:
    # Hidden from type checkers: they see the eager imports below.

    def __getattr__(name: str) -> Any:
        try:
            module = _EXPORTS[name]
        except KeyError:
            raise AttributeError(f"module 'reetrace.tlog' has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # the next access is a plain module attribute
        return value

    def __dir__() -> list[str]:
        return __all__


if TYPE_CHECKING:  # the same names, eagerly, for type checkers
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
