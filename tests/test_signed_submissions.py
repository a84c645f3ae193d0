"""Signed submissions: keys with validity in the registry, required where the registry says so, the
signature recorded in the envelope and shown on events; revoked, expired and misdirected ones refused."""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from reetrace.cli import main
from reetrace.errors import InputError
from reetrace.inspection import list_events, lot_report
from reetrace.intake.registry import load
from reetrace.intake.signatures import message, sign_submission
from reetrace.intake.submit import submit
from reetrace.models import Registry
from reetrace.store import Store
from reetrace.store.verify import verify
from reetrace.tlog import generate_key, load_key
from reetrace.tlog.keys import Signer
from tests.builders import BAYAN_OBO, REGISTRY, ev, out, write_jsonl

ON_TIME = datetime.fromisoformat("2025-04-05T10:00:00+08:00")
LATER = datetime.fromisoformat("2025-04-09T10:00:00+08:00")


def key(tmp_path: Path, name: str) -> Signer:
    generate_key(tmp_path / f"{name}.key", name)
    return load_key(tmp_path / f"{name}.key")


def registry(keys: list[dict[str, Any]], required: bool = True) -> Registry:
    reg = copy.deepcopy(REGISTRY)
    for e in reg["enterprises"]:
        if e["code"] == "MINE":
            e["keys"] = keys
            e["signatures_required"] = required
    return Registry.model_validate(reg)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Signer]:
    return {n: key(tmp_path, n) for n in ("mine-2024", "mine-2025", "sep-2025")}


@pytest.fixture
def signed_store(store: Store, keys: dict[str, Signer]) -> Store:
    load(store, registry([
        {"key": keys["mine-2024"].verifier_key, "valid_from": "2024-01-01T00:00:00+08:00",
         "valid_to": "2025-04-07T00:00:00+08:00"},
        {"key": keys["mine-2025"].verifier_key, "valid_from": "2025-04-01T00:00:00+08:00"},
    ]))  # fmt: skip
    return store


def data(tmp_path: Path, name: str = "m.jsonl") -> Path:
    return write_jsonl(tmp_path / name, [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("ORE1", "concentrate", 1000, reo_pct=50, elements=BAYAN_OBO)]),
    ])  # fmt: skip


def sig(signer: Signer, path: Path, enterprise: str = "MINE", period: str = "2025-03") -> str:
    return sign_submission(signer, enterprise, period, hashlib.sha256(path.read_bytes()).hexdigest())


def refused(store: Store, path: Path, signature: str | None, when: datetime = ON_TIME) -> str:
    with pytest.raises(InputError) as err:
        submit(store, str(path), enterprise="MINE", period="2025-03", received_at=when, signature=signature)
    assert [p.field for p in err.value.problems] == ["signature"]
    return err.value.problems[0].reason


def test_the_signed_message_is_exactly_four_lines() -> None:
    assert (
        message("MINE", "2025-03", "ab" * 32)
        == f"reetrace-submission/1\nMINE\n2025-03\n{'ab' * 32}\n".encode()
    )


def test_a_valid_signature_is_recorded_and_shown(
    signed_store: Store, tmp_path: Path, keys: dict[str, Signer]
) -> None:
    path = data(tmp_path)
    s = keys["mine-2025"]
    r = submit(signed_store, str(path), enterprise="MINE", period="2025-03", received_at=ON_TIME,
               signature=sig(s, path))  # fmt: skip
    assert r.new_events == 1
    label = f"mine-2025+{s.key_id.hex()}"
    [event] = list_events(signed_store, "MINE")
    assert event["signed_by"] == label
    assert lot_report(signed_store, "MINE:ORE1")["created_by"][0]["signed_by"] == label
    verify(signed_store)
    # the registry, loaded again with the same keys, is unchanged
    result = load(signed_store, registry([
        {"key": keys["mine-2024"].verifier_key, "valid_from": "2024-01-01T00:00:00+08:00",
         "valid_to": "2025-04-07T00:00:00+08:00"},
        {"key": s.verifier_key, "valid_from": "2025-04-01T00:00:00+08:00"},
    ]))  # fmt: skip
    assert not result.added and not result.changed


def test_refusals(signed_store: Store, tmp_path: Path, keys: dict[str, Signer]) -> None:
    path = data(tmp_path)
    assert "must sign" in refused(signed_store, path, None)
    assert "another message" in refused(signed_store, path, sig(keys["mine-2025"], path, period="2025-02"))
    assert "another message" in refused(signed_store, path, sig(keys["mine-2025"], path, enterprise="SEP"))
    other = write_jsonl(tmp_path / "other.jsonl", [])
    assert "another message" in refused(signed_store, path, sig(keys["mine-2025"], other))
    assert "not a key of MINE" in refused(signed_store, path, sig(keys["sep-2025"], path))
    assert "not valid at" in refused(signed_store, path, sig(keys["mine-2024"], path), LATER)  # expired
    note = sig(keys["mine-2025"], path)
    forged = note[:-10] + ("A" if note[-10] != "A" else "B") + note[-9:]
    assert "bad signature" in refused(signed_store, path, forged) or "base64" in refused(
        signed_store, path, forged
    )
    # revoked: the key is no longer in the registry
    load(signed_store, registry([
        {"key": keys["mine-2024"].verifier_key, "valid_from": "2024-01-01T00:00:00+08:00",
         "valid_to": "2025-04-07T00:00:00+08:00"},
    ]))  # fmt: skip
    assert "unknown or revoked" in refused(signed_store, path, note)
    assert list_events(signed_store, "MINE") == []


@pytest.fixture
def while_read(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Actions to run after phase 1 has read the file and before phase 2 takes the lock: what another
    party may do meanwhile (phase 1 holds no lock)."""
    import reetrace.intake.submit as submitting

    actions: list[Any] = []
    spool_of = submitting.Spool.of

    def of(items: Any) -> Any:
        spool = spool_of(items)
        for act in actions:
            act()
        return spool

    monkeypatch.setattr(submitting.Spool, "of", of)
    return actions


def test_a_key_revoked_while_the_file_is_read_is_refused(
    signed_store: Store, tmp_path: Path, keys: dict[str, Signer], while_read: list[Any]
) -> None:
    # The signature was valid when phase 1 checked it; the registry revokes the key before the lock is
    # taken. The registry read under the lock decides: refused, nothing written.
    path = data(tmp_path)
    note = sig(keys["mine-2025"], path)
    while_read.append(lambda: load(signed_store, registry([
        {"key": keys["mine-2024"].verifier_key, "valid_from": "2024-01-01T00:00:00+08:00",
         "valid_to": "2025-04-07T00:00:00+08:00"},
    ])))  # fmt: skip
    assert "unknown or revoked" in refused(signed_store, path, note)
    assert list_events(signed_store, "MINE") == []
    while_read.clear()  # the same file and note, the registry as it now is: refused again, at once
    assert "unknown or revoked" in refused(signed_store, path, note)


def test_signatures_required_while_the_file_is_read(
    store: Store, tmp_path: Path, keys: dict[str, Signer], while_read: list[Any]
) -> None:
    entry = [{"key": keys["mine-2025"].verifier_key, "valid_from": "2025-01-01T00:00:00+08:00"}]
    load(store, registry(entry, required=False))
    path = data(tmp_path)
    while_read.append(lambda: load(store, registry(entry, required=True)))
    assert "must sign" in refused(store, path, None)
    assert list_events(store, "MINE") == []
    while_read.clear()
    r = submit(store, str(path), enterprise="MINE", period="2025-03", received_at=ON_TIME,
               signature=sig(keys["mine-2025"], path))  # fmt: skip
    assert r.new_events == 1


def test_signing_is_optional_unless_required(store: Store, tmp_path: Path, keys: dict[str, Signer]) -> None:
    load(store, registry([{"key": keys["mine-2025"].verifier_key, "valid_from": "2025-01-01T00:00:00+08:00"}],
                         required=False))  # fmt: skip
    path = data(tmp_path)
    submit(store, str(path), enterprise="MINE", period="2025-03", received_at=ON_TIME)
    assert list_events(store, "MINE")[0]["signed_by"] is None


def test_cli_sign_then_submit(sqlite_url: str, tmp_path: Path) -> None:
    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    vkey = run("keys", "init", "--key", str(tmp_path / "mine.key"), "--name", "mine-2025").strip()
    reg = copy.deepcopy(REGISTRY)
    for e in reg["enterprises"]:
        if e["code"] == "MINE":
            e["keys"] = [{"key": vkey, "valid_from": "2025-01-01T00:00:00+08:00"}]
            e["signatures_required"] = True
    (tmp_path / "reg.json").write_bytes(orjson.dumps(reg))
    run("registry", "load", str(tmp_path / "reg.json"), "--db", sqlite_url)
    path = data(tmp_path)
    args = [
        "submit",
        str(path),
        "-e",
        "MINE",
        "-p",
        "2025-03",
        "--received-at",
        ON_TIME.isoformat(),
        "--historical",
    ]
    assert "must sign" in run(*args, "--db", sqlite_url, code=1)
    run("sign", str(path), "-e", "MINE", "-p", "2025-03", "--key", str(tmp_path / "mine.key"))
    run(*args, "--signature", f"{path}.sig", "--db", sqlite_url)
    shown = orjson.loads(run("events", "-e", "MINE", "--json", "--db", sqlite_url))["events"]
    assert shown[0]["signed_by"] == "+".join(vkey.split("+")[:2])
