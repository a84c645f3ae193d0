"""The log's Ed25519 signing key, in the formats of Go's ``golang.org/x/mod/sumdb/note`` (C2SP signed-note).

* key ID: the first 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public key)`` (0x01 = Ed25519), so a
  signature line names the key it was made with even when a log has rotated keys;
* verifier key (public, what a verifier is given): ``<name>+<8 hex digits of key ID>+<base64(0x01 ||
  32-byte public key)>``;
* key file (private): ``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || 32-byte seed)>`` and a newline,
  the Go signer-key format, so the same file works with Go tooling.

A key name is non-empty UTF-8 without white space or ``+`` (the separators of the formats above).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALG_ED25519 = 0x01
_PRIVATE_PREFIX = "PRIVATE+KEY+"


class KeyFileError(ValueError):
    """A key file is missing, malformed, not private to its owner, or would be overwritten."""


def check_name(name: str) -> None:
    """Refuse a key name the signed-note formats cannot carry."""
    if not name or "+" in name or any(c.isspace() for c in name):
        raise ValueError(f"invalid key name {name!r}: must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key (C2SP signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Signer:
    """A loaded signing key. Signing is one Ed25519 signature: tens of microseconds."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    public_key: bytes
    key_id: bytes

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        check_name(name)
        priv = Ed25519PrivateKey.from_private_bytes(seed)
        pub = priv.public_key().public_bytes_raw()
        return cls(name, priv, pub, key_id(name, pub))

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @property
    def verifier_key(self) -> str:
        """The public verifier key string to hand to verifiers."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def _encode_private(signer: Signer, seed: bytes) -> str:
    encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
    return f"{_PRIVATE_PREFIX}{signer.name}+{signer.key_id.hex()}+{encoded}\n"


def generate_key(path: str | os.PathLike[str], name: str) -> str:
    """Create a new key in ``path`` (mode 0600) and return its verifier key.

    The file is written to a temporary name in the same directory, synced, then linked into place:
    ``link`` fails if ``path`` exists (``rename`` would silently replace it), so an existing key is never
    overwritten and a crash never leaves a half-written key under ``path``.
    """
    check_name(name)
    target = Path(path)
    if target.exists():
        raise KeyFileError(f"{target} already exists; refusing to overwrite a key")
    seed = os.urandom(32)
    signer = Signer.from_seed(name, seed)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_encode_private(signer, seed))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise KeyFileError(f"{target} already exists; refusing to overwrite a key") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return signer.verifier_key


def load_key(path: str | os.PathLike[str]) -> Signer:
    """Load a key written by :func:`generate_key`, refusing a file others can read."""
    target = Path(path)
    try:
        mode = target.stat().st_mode
        text = target.read_text(encoding="utf-8")
    except OSError as e:
        raise KeyFileError(f"cannot read key file {target}: {e.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise KeyFileError(
            f"key file {target} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600"
        )
    return parse_private_key(text.removesuffix("\n"))


def parse_private_key(text: str) -> Signer:
    """A :class:`Signer` from the ``PRIVATE+KEY+...`` text, checking its key ID."""
    if not text.startswith(_PRIVATE_PREFIX):
        raise KeyFileError("not a private key (expected PRIVATE+KEY+<name>+<id>+<key>)")
    parts = text[len(_PRIVATE_PREFIX) :].split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise KeyFileError("malformed private key")
    name, hex_id, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise KeyFileError("private key is not valid base64") from None
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise KeyFileError("private key is not an Ed25519 key")
    try:
        signer = Signer.from_seed(name, raw[1:])
    except ValueError as e:
        raise KeyFileError(str(e)) from None
    if signer.key_id.hex() != hex_id:
        raise KeyFileError("private key's key ID does not match its name and key")
    return signer
