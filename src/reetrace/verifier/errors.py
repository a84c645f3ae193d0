"""The one exception every check raises, so a caller needs a single ``except`` to refuse a proof."""

from __future__ import annotations


class VerificationError(Exception):
    """A proof, checkpoint or receipt did not verify; the message says what is wrong."""
