"""Signed checkpoints: the log's size and root, as a C2SP tlog-checkpoint in a C2SP signed note.

Body (``tlog-checkpoint``), UTF-8, every line ending in a newline::

    <origin>
    <tree size, decimal, no leading zeros>
    <root hash, standard base64 with padding>
    [<extension line>...]

Note (``signed-note``): the body, one empty line, then one signature line per signer::

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature over the body)>

(the dash is U+2014 EM DASH followed by a space). A checkpoint commits the log operator to the whole log
of that size: two checkpoints with the same origin and size but different roots prove a fork.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from reetrace.tlog.keys import Signer

SIG_PREFIX = "\u2014 "
_SIZE = re.compile(r"0|[1-9][0-9]*")


def _check_line(what: str, line: str) -> None:
    if not line or any(ord(c) < 0x20 or c == "\x7f" for c in line):
        raise ValueError(f"checkpoint {what} must be a non-empty line without control characters")


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint says: the log named ``origin`` had ``size`` leaves with this ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        for ext in self.extensions:
            _check_line("extension", ext)
        if self.size < 0:
            raise ValueError("checkpoint size must be >= 0")
        if len(self.root) != 32:
            raise ValueError("checkpoint root must be a 32-byte hash")

    def body(self) -> bytes:
        """The signed text (tlog-checkpoint)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines).encode()


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The signed note of ``checkpoint``: the text to publish and to put in receipts."""
    body = checkpoint.body()
    sig = base64.b64encode(signer.key_id + signer.sign(body)).decode()
    return f"{body.decode()}\n{SIG_PREFIX}{signer.name} {sig}\n"


def read_checkpoint(note: str) -> Checkpoint:
    """The checkpoint in a note this log signed, *without* checking signatures.

    For the operator's own notes (to learn a stored note's size); anyone else verifies with
    :func:`reetrace.verifier.open_checkpoint`.
    """
    body, sep, _ = note.rpartition("\n\n")
    if not sep:
        raise ValueError("not a signed note: no blank line before the signatures")
    lines = body.split("\n")
    if len(lines) < 3 or not _SIZE.fullmatch(lines[1]):
        raise ValueError("not a checkpoint: expected origin, size and root lines")
    root = base64.b64decode(lines[2], validate=True)
    return Checkpoint(lines[0], int(lines[1]), root, tuple(lines[3:]))
