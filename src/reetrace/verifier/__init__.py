"""Checks what the transparency log hands out: proofs, signed checkpoints and submission receipts.

Written from RFC 9162 and the C2SP specifications, apart from :mod:`reetrace.tlog` (which it must never
import, a test checks), so that a misreading in the prover cannot be repeated here and go unnoticed. It
needs only the standard library and ``cryptography``. Every failure raises :class:`VerificationError`
with a message naming what is wrong.
"""

from reetrace.verifier.checkpoint import Checkpoint, VerifierKey, open_checkpoint, parse_verifier_key
from reetrace.verifier.errors import VerificationError
from reetrace.verifier.proofs import verify_consistency, verify_inclusion, verify_range
from reetrace.verifier.receipt import VerifiedReceipt, verify_receipt

__all__ = [
    "Checkpoint",
    "VerificationError",
    "VerifiedReceipt",
    "VerifierKey",
    "open_checkpoint",
    "parse_verifier_key",
    "verify_consistency",
    "verify_inclusion",
    "verify_range",
    "verify_receipt",
]
