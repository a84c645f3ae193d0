"""Strict parsing and signature check of a signed checkpoint (C2SP signed-note + tlog-checkpoint).

Accepted, byte for byte::

    <origin>\\n<size>\\n<base64 root>\\n[<extension>\\n...]\\n— <name> <base64(key ID || signature)>\\n...

The note must be valid UTF-8 and end in a newline; the body is everything before the last blank line
(its final newline included), the signature lines everything after it. Signature lines by other keys
(e.g. witnesses' cosignatures) are allowed and ignored, as the signed-note spec requires, but each must be
well formed, and the trusted key must have signed exactly once, with a valid signature. The size is
decimal without leading zeros, the root canonical padded base64 of 32 bytes, and no body line may be
empty or hold a control character.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from reetrace.verifier.errors import VerificationError

MAX_NOTE = 1 << 20
MAX_SIGNATURES = 100
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")
_SIG_LINE = re.compile(r"\u2014 (\S+) (\S+)")


@dataclass(frozen=True)
class VerifierKey:
    """A trusted log key: name, 4-byte key ID and Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the log ``origin`` had ``size`` leaves with ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def _strict_b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise VerificationError(f"{what} is not canonical base64")
    return raw


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parse ``<name>+<hex key ID>+<base64(0x01 || public key)>`` and check that the ID fits the key."""
    parts = vkey.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise VerificationError("verifier key must be <name>+<key ID>+<key>")
    name, hex_id, encoded = parts
    if not _valid_name(name):
        raise VerificationError(f"verifier key has an invalid name {name!r}")
    if not _HEX_ID.fullmatch(hex_id):
        raise VerificationError("verifier key ID must be 8 hex digits")
    raw = _strict_b64(encoded, "verifier key")
    if len(raw) != 33 or raw[0] != 0x01:
        raise VerificationError("verifier key is not an Ed25519 key (0x01 followed by 32 bytes)")
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if expected.hex() != hex_id.lower():
        raise VerificationError("verifier key ID does not match its name and public key")
    return VerifierKey(name, expected, raw[1:])


def _parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if lines[-1] != "":
        raise VerificationError("checkpoint body must end with a newline")
    lines.pop()
    if len(lines) < 3:
        raise VerificationError("checkpoint body needs origin, size and root lines")
    for i, line in enumerate(lines):
        if not line or any(ord(c) < 0x20 or c == "\x7f" for c in line):
            raise VerificationError(f"checkpoint line {i + 1} is empty or holds a control character")
    origin, size_text, root_text, *extensions = lines
    if not _SIZE.fullmatch(size_text):
        raise VerificationError(
            f"checkpoint size {size_text!r} is not a decimal number without leading zeros"
        )
    root = _strict_b64(root_text, "checkpoint root")
    if len(root) != 32:
        raise VerificationError(f"checkpoint root is {len(root)} bytes, not 32")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(note: str | bytes, key: VerifierKey | str, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint with ``key`` and return what it says.

    ``origin`` is the log the caller expects; by default the key's name (the convention that a log's key
    is named after the log), so a checkpoint of another log signed with the same key is refused.
    """
    vkey = parse_verifier_key(key) if isinstance(key, str) else key
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE:
            raise VerificationError("signed note is too large")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError("signed note is not valid UTF-8") from None
    if len(note) > MAX_NOTE:
        raise VerificationError("signed note is too large")
    if any((ord(c) < 0x20 and c != "\n") or c == "\x7f" for c in note):
        raise VerificationError("signed note holds a control character")
    if not note.endswith("\n"):
        raise VerificationError("signed note must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("signed note has no blank line between body and signatures")
    body, sig_block = note[: split + 1], note[split + 2 :]
    sig_lines = sig_block.split("\n")[:-1]  # the block ends in a newline
    if not sig_lines:
        raise VerificationError("signed note has no signature lines")
    if len(sig_lines) > MAX_SIGNATURES:
        raise VerificationError("signed note has too many signature lines")

    ours: list[bytes] = []
    other_ids: list[str] = []
    for n, line in enumerate(sig_lines, 1):
        m = _SIG_LINE.fullmatch(line)
        if not m or not _valid_name(m.group(1)):
            raise VerificationError(f"signature line {n} is malformed")
        raw = _strict_b64(m.group(2), f"signature line {n}")
        if len(raw) < 5:
            raise VerificationError(f"signature line {n} is too short")
        if m.group(1) != vkey.name:
            continue  # a signature by another key: ignored, as the spec requires
        if raw[:4] != vkey.key_id:
            other_ids.append(raw[:4].hex())
            continue
        if len(raw) != 4 + 64:
            raise VerificationError(f"signature line {n} by {vkey.name} does not hold a 64-byte signature")
        ours.append(raw[4:])
    if not ours:
        if other_ids:
            raise VerificationError(
                f"signature by {vkey.name} has key ID {other_ids[0]}, expected {vkey.key_id.hex()}"
            )
        raise VerificationError(f"signed note is not signed by the trusted key {vkey.name}")
    if len(ours) > 1:
        raise VerificationError(f"signed note carries more than one signature by {vkey.name}")
    try:
        Ed25519PublicKey.from_public_bytes(vkey.public_key).verify(ours[0], body.encode())
    except InvalidSignature:
        raise VerificationError(f"bad signature by {vkey.name}: the note was altered or forged") from None

    checkpoint = _parse_body(body)
    expected = vkey.name if origin is None else origin
    if checkpoint.origin != expected:
        raise VerificationError(f"checkpoint is for log {checkpoint.origin!r}, expected {expected!r}")
    return checkpoint
