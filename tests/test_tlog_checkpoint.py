"""Signing keys and signed checkpoints (the prover side)."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest

from reetrace.tlog.checkpoint import Checkpoint, read_checkpoint, sign_checkpoint
from reetrace.tlog.keys import KeyFileError, Signer, generate_key, key_id, load_key, parse_private_key

ROOT = hashlib.sha256(b"root").digest()


def test_generate_key_writes_a_private_file_and_returns_the_verifier_key(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    vkey = generate_key(path, "reetrace.example/log")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [path], "the temporary file was left behind"
    signer = load_key(path)
    assert signer.verifier_key == vkey
    name, hex_id, encoded = vkey.split("+", 2)
    raw = base64.b64decode(encoded)
    assert name == "reetrace.example/log"
    assert raw[0] == 1 and raw[1:] == signer.public_key and len(raw) == 33
    assert hex_id == hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4].hex()
    assert path.read_text().startswith(f"PRIVATE+KEY+{name}+{hex_id}+")


def test_generate_key_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    generate_key(path, "log")
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key(path, "log")
    assert path.read_bytes() == before


def test_load_key_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    generate_key(path, "log")
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(path)


def test_a_private_key_with_a_wrong_key_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    generate_key(path, "log")
    parts = path.read_text().strip().split("+", 4)  # PRIVATE, KEY, name, key ID, key
    forged = "+".join([*parts[:3], "00000000", parts[4]])
    with pytest.raises(KeyFileError, match="key ID"):
        parse_private_key(forged)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there"])
def test_invalid_key_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid key name"):
        generate_key(tmp_path / "k", name)


def test_the_checkpoint_body_is_the_c2sp_format() -> None:
    cp = Checkpoint("reetrace.example/log", 1234, ROOT, ("ext one",))
    assert cp.body() == f"reetrace.example/log\n1234\n{base64.b64encode(ROOT).decode()}\next one\n".encode()


def test_a_signed_checkpoint_is_the_body_a_blank_line_and_an_em_dash_signature() -> None:
    signer = Signer.from_seed("log", bytes(range(32)))
    cp = Checkpoint("log", 7, ROOT)
    note = sign_checkpoint(cp, signer)
    body, sig_line = note.split("\n\n")
    assert body.encode() + b"\n" == cp.body()
    assert sig_line.startswith("\u2014 log ") and sig_line.endswith("\n")
    raw = base64.b64decode(sig_line.removeprefix("\u2014 log ").strip())
    assert raw[:4] == key_id("log", signer.public_key) and len(raw) == 68
    signer.private_key.public_key().verify(raw[4:], cp.body())
    assert read_checkpoint(note) == cp


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [("", 1, ROOT), ("a\nb", 1, ROOT), ("log", -1, ROOT), ("log", 1, ROOT[:31])],
)
def test_impossible_checkpoints_are_refused(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(ValueError):
        Checkpoint(origin, size, root)
