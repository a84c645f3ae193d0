"""Checks a submission receipt (``reetrace-receipt/1``, layout in docs/transparency-log.md).

Order matters: first the checkpoint's signature (which makes its root trustworthy), then the range proof
against that root (which makes the envelope frame and the event leaf hashes trustworthy), and only then
the fields read *from the proven frame*. The receipt's ``submission`` object is for people and proves
nothing by itself: every field it shows must equal the frame's, or the receipt is refused, so a receipt
cannot show an enterprise or period other than the one the log recorded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from reetrace.verifier.checkpoint import Checkpoint, VerifierKey, open_checkpoint
from reetrace.verifier.errors import VerificationError
from reetrace.verifier.proofs import leaf_hash, verify_range

FORMAT = "reetrace-receipt/1"
REQUIRED_FIELDS = ("enterprise", "period", "received_at", "digest")
_KEYS = {"format", "submission", "envelope", "events", "range_proof", "checkpoint"}


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a verified receipt proves: this envelope record is at ``envelope_position`` of the log that
    ``checkpoint`` commits to, followed by events with these leaf hashes at ``first_event..last_event``."""

    record: dict[str, Any]  # the envelope's record, read from the proven frame
    envelope_position: int
    first_event: int
    last_event: int
    event_leaf_hashes: tuple[bytes, ...]
    checkpoint: Checkpoint

    @property
    def enterprise(self) -> str:
        return str(self.record["enterprise"])

    @property
    def period(self) -> str:
        return str(self.record["period"])

    @property
    def digest(self) -> str:
        return str(self.record["digest"])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise VerificationError(f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def _json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise VerificationError(f"{what} is not valid JSON: {e}") from None


def _obj(value: Any, what: str, keys: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VerificationError(f"{what} must be a JSON object")
    if keys is not None and set(value) != keys:
        raise VerificationError(f"{what} must have exactly the keys {sorted(keys)}, has {sorted(value)}")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise VerificationError(f"{what} must be a positive integer")
    return value


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != value:
        raise VerificationError(f"{what} is not canonical base64")
    return raw


def _hashes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise VerificationError(f"{what} must be a list")
    out = [_b64(v, f"{what}[{i}]") for i, v in enumerate(value)]
    for i, h in enumerate(out):
        if len(h) != 32:
            raise VerificationError(f"{what}[{i}] is not a 32-byte hash")
    return out


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells ``true`` from ``1`` and ``1`` from ``1.0``."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def verify_receipt(
    receipt_json: str | bytes,
    verifier_key: VerifierKey | str,
    file_bytes: bytes | None = None,
    *,
    origin: str | None = None,
) -> VerifiedReceipt:
    """Verify a receipt against the log's verifier key (and the submitted file, when given).

    ``origin`` is the log's expected name (default: the key's name, see :func:`open_checkpoint`).
    Raises :class:`VerificationError` naming the first thing wrong.
    """
    receipt = _obj(_json(receipt_json, "receipt"), "receipt", _KEYS)
    if receipt["format"] != FORMAT:
        raise VerificationError(f"unknown receipt format {receipt['format']!r}, expected {FORMAT!r}")
    shown = _obj(receipt["submission"], "receipt submission")
    envelope = _obj(receipt["envelope"], "receipt envelope", {"position", "frame"})
    events = _obj(receipt["events"], "receipt events", {"first", "last", "leaf_hashes"})
    note = receipt["checkpoint"]
    if not isinstance(note, str):
        raise VerificationError("receipt checkpoint must be the signed note's text")

    p = _int(envelope["position"], "envelope position")
    frame = _b64(envelope["frame"], "envelope frame")
    first, last = _int(events["first"], "first event"), _int(events["last"], "last event")
    leaves = _hashes(events["leaf_hashes"], "event leaf hash")
    proof = _hashes(receipt["range_proof"], "range proof")
    if first != p + 1 or last != p + len(leaves):
        raise VerificationError(
            f"events {first}..{last} with {len(leaves)} hashes do not directly follow the envelope at {p}"
        )

    checkpoint = open_checkpoint(note, verifier_key, origin)
    if checkpoint.size < last:
        raise VerificationError(
            f"checkpoint of size {checkpoint.size} is smaller than the receipt's range {p}..{last}"
        )
    verify_range(p - 1, [leaf_hash(frame), *leaves], checkpoint.size, proof, checkpoint.root)

    framed = _obj(_json(frame, "envelope frame"), "envelope frame")
    if framed.get("kind") != "submission":
        raise VerificationError("the proven frame is not a submission envelope")
    if not _same(framed.get("position"), p):
        raise VerificationError(f"the proven frame says position {framed.get('position')!r}, not {p}")
    record = _obj(framed.get("record"), "envelope record")
    for name in REQUIRED_FIELDS:
        if name not in shown:
            raise VerificationError(f"receipt does not show the submission's {name}")
    for name, value in shown.items():
        if name not in record:
            raise VerificationError(f"receipt shows {name!r}, which the envelope does not record")
        if not _same(value, record[name]):
            raise VerificationError(
                f"receipt shows {name} {value!r} but the envelope records {record[name]!r}"
            )
    if file_bytes is not None and hashlib.sha256(file_bytes).hexdigest() != record["digest"]:
        raise VerificationError("the file's SHA-256 differs from the digest the envelope records")
    return VerifiedReceipt(record, p, first, last, tuple(leaves), checkpoint)
