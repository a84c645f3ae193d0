"""The transparency log: a Merkle tree over the log's frames, signed checkpoints and receipts.

This package is the prover side. :mod:`reetrace.verifier` checks its output and is written separately
from the RFC so that one misreading of the RFC cannot hide in both.
"""
