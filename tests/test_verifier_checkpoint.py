"""Strict checking of signed checkpoints: good notes open, every forgery names what is wrong."""

from __future__ import annotations

import base64
import hashlib

import pytest

from reetrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from reetrace.tlog.keys import Signer
from reetrace.verifier import VerificationError, open_checkpoint, parse_verifier_key

SIGNER = Signer.from_seed("reetrace.example/log", bytes(range(32)))
OTHER = Signer.from_seed("witness.example", bytes(range(1, 33)))
ROOT = hashlib.sha256(b"root").digest()
B64_ROOT = base64.b64encode(ROOT).decode()
NOTE = sign_checkpoint(Checkpoint("reetrace.example/log", 42, ROOT), SIGNER)
VKEY = SIGNER.verifier_key


def signed(body: str, signer: Signer = SIGNER, name: str | None = None, key_id: bytes | None = None) -> str:
    """A note over an arbitrary body, signed for real (to reach the checks after the signature)."""
    sig = (key_id or signer.key_id) + signer.sign(body.encode())
    return f"{body}\n\u2014 {name or signer.name} {base64.b64encode(sig).decode()}\n"


def refused(note: str | bytes, match: str, key: str = VKEY, origin: str | None = None) -> None:
    with pytest.raises(VerificationError, match=match):
        open_checkpoint(note, key, origin)


def test_a_good_checkpoint_opens() -> None:
    cp = open_checkpoint(NOTE, VKEY)
    assert (cp.origin, cp.size, cp.root, cp.extensions) == ("reetrace.example/log", 42, ROOT, ())
    assert open_checkpoint(NOTE.encode(), parse_verifier_key(VKEY)) == cp


def test_extension_lines_are_returned() -> None:
    note = sign_checkpoint(Checkpoint("reetrace.example/log", 42, ROOT, ("x 1", "y")), SIGNER)
    assert open_checkpoint(note, VKEY).extensions == ("x 1", "y")


def test_the_go_note_package_example_key_and_signature_verify() -> None:
    """The example of golang.org/x/mod/sumdb/note: our key and signature-line formats are Go's (the
    body is not a checkpoint, so the check after the signature is what fails)."""
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    note = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
        "\n"
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    refused(note, "origin, size and root", key=vkey)
    refused(note.replace("problem is", "problem was"), "bad signature", key=vkey)


def test_a_bad_signature_is_refused() -> None:
    body, sig = NOTE.split("\n\n")
    raw = bytearray(base64.b64decode(sig.split(" ")[2]))
    raw[-1] ^= 1
    forged = f"{body}\n\n\u2014 reetrace.example/log {base64.b64encode(raw).decode()}\n"
    refused(forged, "bad signature by reetrace.example/log")


def test_a_modified_body_is_refused() -> None:
    refused(NOTE.replace("\n42\n", "\n43\n"), "bad signature")
    refused(NOTE.replace(B64_ROOT, base64.b64encode(bytes(32)).decode()), "bad signature")
    refused("x" + NOTE, "bad signature")


def test_a_note_signed_only_by_a_foreign_key_is_refused() -> None:
    foreign = sign_checkpoint(Checkpoint("reetrace.example/log", 42, ROOT), OTHER)
    refused(foreign, "not signed by the trusted key reetrace.example/log")
    # the same name but another key: the key ID tells them apart
    impostor = Signer.from_seed("reetrace.example/log", bytes(32))
    refused(sign_checkpoint(Checkpoint("reetrace.example/log", 42, ROOT), impostor), "has key ID")


def test_a_key_id_mismatch_is_refused() -> None:
    body = NOTE.split("\n\n")[0] + "\n"
    refused(signed(body, key_id=b"\x00\x00\x00\x00"), "has key ID 00000000, expected")


def test_signatures_by_other_keys_are_ignored_but_must_be_well_formed() -> None:
    cosigned = NOTE + signed("x\n", OTHER).split("\n\n")[1]
    assert cosigned.count("\u2014") == 2
    assert open_checkpoint(cosigned, VKEY).size == 42
    refused(NOTE + "\u2014 witness not-base64!\n", "not valid base64")
    refused(NOTE + "-- witness AAAAAAA=\n", "signature line 2 is malformed")


def test_two_signatures_by_the_trusted_key_are_refused() -> None:
    sig_line = NOTE.split("\n\n")[1]
    refused(NOTE + sig_line, "more than one signature")


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (NOTE + "junk", "must end with a newline"),
        (NOTE + "junk\n", "signature line 2 is malformed"),
        (NOTE + "\n", "no signature lines"),
        (NOTE.rstrip("\n"), "must end with a newline"),
        (NOTE.replace("\n\n", "\n"), "no blank line"),
        (NOTE.split("\n\n")[0] + "\n\n", "no signature lines"),
        (NOTE.replace("\u2014 ", "\u2014  "), "malformed"),
        (NOTE.replace("\n42\n", "\n4\x002\n"), "control character"),
        (NOTE.encode()[:-3] + b"\xff\n", "not valid UTF-8"),
    ],
)
def test_malformed_notes_are_refused(note: str | bytes, match: str) -> None:
    refused(note, match)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (f"reetrace.example/log\n042\n{B64_ROOT}\n", "leading zeros"),
        (f"reetrace.example/log\n-1\n{B64_ROOT}\n", "checkpoint size"),
        (f"reetrace.example/log\n4 2\n{B64_ROOT}\n", "checkpoint size"),
        (f"reetrace.example/log\n42\n{B64_ROOT.rstrip('=')}\n", "base64"),
        (f"reetrace.example/log\n42\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"reetrace.example/log\n42\n{base64.urlsafe_b64encode(bytes([251]) * 32).decode()}\n", "base64"),
        ("reetrace.example/log\n42\n", "origin, size and root"),
        (f"reetrace.example/log\n42\n{B64_ROOT}\n\next\n", "empty"),
        (f"reetrace.example/log\n42\n{B64_ROOT}\n \n", None),
        (f"other.example/log\n42\n{B64_ROOT}\n", "for log 'other.example/log'"),
    ],
)
def test_signed_but_malformed_checkpoint_bodies_are_refused(body: str, match: str | None) -> None:
    note = signed(body)
    if match is None:  # an extension line of one space is odd but allowed
        assert open_checkpoint(note, VKEY).extensions == (" ",)
    else:
        refused(note, match)


def test_the_expected_origin_can_differ_from_the_key_name() -> None:
    note = signed(f"other.example/log\n42\n{B64_ROOT}\n")
    assert open_checkpoint(note, VKEY, origin="other.example/log").size == 42
    refused(NOTE, "expected 'other.example/log'", origin="other.example/log")


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        ("nameonly", "must be <name>"),
        (VKEY.replace("+", "+0", 1), "8 hex digits"),
        ("+".join([*VKEY.split("+", 2)[:2], "AA" + VKEY.split("+", 2)[2][2:]]), "Ed25519|ID does not match"),
        ("other+" + VKEY.split("+", 1)[1], "does not match its name"),
        (VKEY + "=", "base64"),
        ("a b+" + VKEY.split("+", 1)[1], "invalid name"),
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str, match: str) -> None:
    with pytest.raises(VerificationError, match=match):
        parse_verifier_key(vkey)
