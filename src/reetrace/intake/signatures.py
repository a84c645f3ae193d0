"""Signed submissions: an enterprise signs (enterprise, period, SHA-256 of the file) with a key the
registry lists for it; ``submit`` checks the signature and records it in the envelope.

Signed message (UTF-8, four lines, each ending in ``\\n``)::

    reetrace-submission/1
    <enterprise code>
    <period YYYY-MM>
    <hex SHA-256 of the file's bytes, lower case>

Signature file: a C2SP signed note of that message, the format of the log's checkpoints: the message,
one empty line, and one signature line ``— <key name> <base64(4-byte key ID || 64-byte Ed25519
signature of the message)>``. Keys are made with ``reetrace keys init`` and listed in the registry as
verifier keys (``<name>+<key ID hex>+<base64(0x01 || public key)>``) with ``valid_from`` / ``valid_to``.

A signature is accepted when its message is exactly the one for this enterprise, period and file, and
it verifies under a key that the *current* registry lists for the enterprise and that is valid at the
submission's reception time. A key removed from the registry is revoked; one past ``valid_to`` has
expired. The envelope then records ``"signature": {"key": "<name>+<key ID hex>", "sig": "<base64>"}``
(the message is rebuilt from the envelope's own fields), so anyone with the registry can check it again.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import InputError, Problem
from reetrace.models import Enterprise

if TYPE_CHECKING:
    from reetrace.tlog.keys import Signer

HEADER = "reetrace-submission/1"
_DASH = "\u2014 "


def message(enterprise: str, period: str, digest: str) -> bytes:
    """The bytes an enterprise signs for one submission."""
    return f"{HEADER}\n{enterprise}\n{period}\n{digest}\n".encode()


def sign_submission(signer: Signer, enterprise: str, period: str, digest: str) -> str:
    """The detached signature (signed note) of a submission."""
    body = message(enterprise, period, digest)
    sig = base64.b64encode(signer.key_id + signer.sign(body)).decode()
    return f"{body.decode()}\n{_DASH}{signer.name} {sig}\n"


def _refuse(file: str, reason: str) -> InputError:
    return InputError([Problem(0, "signature", reason, file)], file=file)


def current_enterprise(conn: Connection, enterprise: str) -> Enterprise | None:
    """The registry's current record of ``enterprise`` (its keys among it), None when it is not registered."""
    body = conn.execute(
        sa.text(
            "SELECT l.body FROM current_enterprises e JOIN log l ON l.position = e.position WHERE e.code = :c"
        ),
        {"c": enterprise},
    ).scalar()
    if body is None:
        return None
    return Enterprise.model_validate(orjson.loads(bytes(body))["record"])


def check_submission_signature(
    ent: Enterprise,
    *,
    enterprise: str,
    period: str,
    digest: str,
    note: str | None,
    received_at: datetime,
    file: str,
) -> dict[str, Any] | None:
    """The envelope's ``signature`` member for a valid ``note``, None when there is no signature and
    none is required; raises :class:`InputError` saying why a signature is refused. ``ent``: the
    registry's current record of the enterprise (:func:`current_enterprise`), read by the caller
    with the rest of what it needs from the registry, in one connection."""
    if note is None:
        if ent.signatures_required:
            raise _refuse(file, f"{enterprise} must sign its submissions (registry); none was given")
        return None
    body, sep, sig_block = note.rpartition("\n\n")
    if not sep or not note.endswith("\n"):
        raise _refuse(file, "the signature is not a signed note (message, empty line, signature line)")
    if (body + "\n").encode() != message(enterprise, period, digest):
        raise _refuse(
            file, f"the signature is over another message, not {enterprise} {period} with this file's SHA-256"
        )
    lines = sig_block.split("\n")[:-1]
    if len(lines) != 1 or not lines[0].startswith(_DASH):
        raise _refuse(file, "the signature must have exactly one signature line")
    name, _, b64 = lines[0][len(_DASH) :].partition(" ")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(file, "the signature line is not base64") from None
    if len(raw) != 68:
        raise _refuse(file, "the signature line does not hold a key ID and a 64-byte Ed25519 signature")
    key_label = f"{name}+{raw[:4].hex()}"
    # Only a submission that brings a signature pays for loading cryptography (≈20 ms of start-up).
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from reetrace.verifier import VerificationError, parse_verifier_key

    for k in ent.keys or []:
        try:
            vkey = parse_verifier_key(k.key)
        except VerificationError:
            continue
        if vkey.name != name or vkey.key_id != raw[:4]:
            continue
        if received_at < k.valid_from or (k.valid_to is not None and received_at >= k.valid_to):
            raise _refuse(
                file,
                f"key {key_label} is not valid at {received_at.isoformat()} "
                f"(valid from {k.valid_from.isoformat()}"
                + (f" to {k.valid_to.isoformat()})" if k.valid_to else ")"),
            )
        try:
            Ed25519PublicKey.from_public_bytes(vkey.public_key).verify(
                raw[4:], message(enterprise, period, digest)
            )
        except InvalidSignature:
            raise _refuse(file, f"bad signature by key {key_label}") from None
        return {"key": key_label, "sig": base64.b64encode(raw[4:]).decode()}
    raise _refuse(file, f"key {key_label} is not a key of {enterprise} in the registry (unknown or revoked)")


__all__ = ["HEADER", "check_submission_signature", "current_enterprise", "message", "sign_submission"]
