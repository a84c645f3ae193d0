"""The Merkle tree in the store, signed checkpoints, receipts from submit, proofs and the witness, on
both backends; and the insider who rewrites history *and* recomputes chain and tree."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Connection

from reetrace.cli import main
from reetrace.errors import InputError, VerificationFailed
from reetrace.intake.submit import submit
from reetrace.store import Store, chain, open_store
from reetrace.store.schema import merkle_nodes, submissions
from reetrace.store.tree import Frontier, TableNodes
from reetrace.store.verify import verify
from reetrace.tlog import generate_key, leaf_hash, load_key, merkle
from reetrace.tlog.keys import Signer
from reetrace.transparency import (
    StoreSource,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
    receipt_for,
    tree_state,
)
from reetrace.verifier import (
    VerificationError,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_receipt,
)
from reetrace.witness import WitnessAlarm, witness
from tests.helpers import BAYAN_OBO, ev, load_registry, out, submit_events, write_jsonl
from tests.tlog_helpers import Naive

LOG = "reetrace.test/log"


def month(prefix: str, n: int, day: int = 2) -> list[dict[str, Any]]:
    return [
        ev(f"{prefix}{i}", "extract", "MINE", "BO", f"2025-03-{day:02d}",
           outputs=[out(f"{prefix.upper()}ORE{i}", "concentrate", 1000 + i, reo_pct=50,
                        elements=BAYAN_OBO)])
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    generate_key(tmp_path / "log.key", LOG)
    return load_key(tmp_path / "log.key")


def frames(store: Store) -> list[bytes]:
    with store.reading() as conn:
        return [bytes(b) for (b,) in conn.execute(sa.text("SELECT body FROM log ORDER BY position"))]


# -- the tree in the store ----------------------------------------------------------------------------


def test_tree_is_the_rfc_tree_of_the_frames_at_every_size(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", month("a", 5))
    submit_events(store, tmp_path, "MINE", "2025-03", month("b", 9, day=3))
    entries = frames(store)
    naive = Naive(entries)
    n = len(entries)
    with store.reading() as conn:
        reader = TableNodes(conn)
        for size in range(n + 1):
            assert merkle.root(size, reader) == naive.mth(0, size), size
        stored = conn.execute(sa.select(sa.func.count()).select_from(merkle_nodes)).scalar_one()
    # one node per leaf and per completed perfect subtree: 2n - popcount(n)
    assert stored == 2 * n - bin(n).count("1")
    assert tree_state(store).root == naive.mth(0, n)
    verify(store)


def test_a_failed_submission_leaves_no_nodes(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    before = tree_state(store)
    bad = month("a", 3)
    bad[1]["outputs"][0]["reo_pct"] = 150
    with pytest.raises(InputError, match="nothing was written"):
        submit(store, str(write_jsonl(tmp_path / "bad.jsonl", bad)), enterprise="MINE", period="2025-03")
    assert tree_state(store) == before
    verify(store)


@contextmanager
def owner(store: Store) -> Iterator[Connection]:
    """A session of whoever owns the tables, with the append-only triggers out of the way."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            yield conn
            return
        ddl = [r[0] for r in conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type='trigger'"))]
        for (name,) in conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='trigger'")).all():
            conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        yield conn
        for d in ddl:
            conn.execute(sa.text(d))


def test_verify_names_a_changed_node(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", month("a", 5))
    with owner(store) as conn:
        conn.execute(
            sa.text("UPDATE merkle_nodes SET hash = :h WHERE level = 2 AND idx = 1"), {"h": bytes(32)}
        )
    with pytest.raises(VerificationFailed) as err:
        verify(store)
    assert err.value.position == 8
    assert "node (2, 1) differs" in err.value.reason


def test_verify_names_a_missing_and_an_extra_node(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", month("a", 5))
    with owner(store) as conn:
        conn.execute(sa.text("DELETE FROM merkle_nodes WHERE level = 0 AND idx = 3"))
    with pytest.raises(VerificationFailed, match=r"missing node \(0, 3\)") as err:
        verify(store)
    assert err.value.position == 4
    with owner(store) as conn:
        conn.execute(sa.text("INSERT INTO merkle_nodes VALUES (0, 3, :h), (9, 0, :h)"), {"h": bytes(32)})
    with pytest.raises(VerificationFailed, match=r"node \(0, 3\) differs"):
        verify(store)


def test_migration_builds_the_tree_of_an_existing_log(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    from reetrace.store.migrate import _config

    store = open_store(db_url, migrate=False)
    try:
        with store.migration_lock() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        store._migrated = True  # a store of the previous release: no tree
        if store.dialect == "postgresql":  # the previous release typed LOCK TABLE itself
            with store.engine.begin() as conn:
                conn.exec_driver_sql(
                    "CREATE FUNCTION reetrace_lock_log() RETURNS void LANGUAGE sql "
                    "AS 'LOCK TABLE log IN EXCLUSIVE MODE'"
                )
        store.maintain_tree = False
        load_registry(store)
        submit_events(store, tmp_path, "MINE", "2025-03", month("a", 7))
        store._migrated = False
        store.maintain_tree = True
        store.migrate()  # 0003: builds the tree of the 23 records
        naive = Naive(frames(store))
        assert tree_state(store).root == naive.mth(0, len(naive.entries))
        submit_events(store, tmp_path, "MINE", "2025-03", month("b", 2, day=3))
        verify(store)
    finally:
        store.dispose()


# -- checkpoints, receipts, proofs --------------------------------------------------------------------


def test_signed_checkpoint_covers_the_whole_log(store: Store, tmp_path: Path, signer: Signer) -> None:
    load_registry(store)
    note = latest_checkpoint(store, signer)
    cp = open_checkpoint(note, signer.verifier_key)
    head = tree_state(store)
    assert (cp.origin, cp.size, cp.root) == (LOG, head.size, head.root)
    assert StoreSource(store).checkpoint() == note
    assert latest_checkpoint(store, signer) == note  # same tree, same note (Ed25519 is deterministic)


def test_every_submission_returns_a_receipt_that_verifies(
    store: Store, tmp_path: Path, signer: Signer
) -> None:
    load_registry(store)
    path = write_jsonl(tmp_path / "a.jsonl", month("a", 4))
    r = submit(store, str(path), enterprise="MINE", period="2025-03",
               received_at=datetime.fromisoformat("2025-04-05T10:00:00+08:00"), signer=signer)  # fmt: skip
    assert r.receipt is not None and r.position is not None
    ok = verify_receipt(r.receipt, signer.verifier_key, path.read_bytes())
    assert (ok.enterprise, ok.period, ok.envelope_position) == ("MINE", "2025-03", r.position)
    assert (ok.first_event, ok.last_event) == (r.position + 1, r.position + 4)
    assert list(ok.event_leaf_hashes) == [leaf_hash(f) for f in frames(store)[r.position : r.position + 4]]
    with pytest.raises(VerificationError, match="SHA-256"):
        verify_receipt(r.receipt, signer.verifier_key, path.read_bytes() + b"\n")

    # later, after more records: the same submission against a newer checkpoint
    submit_events(store, tmp_path, "MINE", "2025-03", month("b", 3, day=3))
    again = verify_receipt(receipt_for(store, signer, "MINE", "2025-03"), signer.verifier_key)
    assert again.checkpoint.size == tree_state(store).size
    assert again.enterprise == "MINE"


def test_proofs_verify_with_the_separate_verifier(store: Store, tmp_path: Path) -> None:
    load_registry(store)
    old = tree_state(store)
    submit_events(store, tmp_path, "MINE", "2025-03", month("a", 6))
    new = tree_state(store)
    verify_consistency(old.size, new.size, consistency_proof(store, old.size, new.size), old.root, new.root)
    for pos in (1, old.size, new.size):
        leaf, proof, root = inclusion_proof(store, pos, new.size)
        assert leaf == leaf_hash(frames(store)[pos - 1])
        verify_inclusion(leaf, pos - 1, new.size, proof, root)
    with pytest.raises(ValueError, match="no tree of size"):
        consistency_proof(store, 1, new.size + 1)


# -- the insider --------------------------------------------------------------------------------------


def rewrite_history(store: Store, position: int, change: dict[str, Any]) -> None:
    """What an operator with owner rights can do: change the submission envelope at ``position``,
    recompute every later chain link, the derived row, and the whole tree; drop the checkpoints the
    log issued before (verify would compare them with the new tree)."""
    with owner(store) as conn:
        rows = conn.execute(
            sa.text("SELECT position, body, hash FROM log WHERE position >= :p ORDER BY position"),
            {"p": position - 1},
        ).all()
        prev = bytes(rows[0][2]) if position > 1 else chain.GENESIS
        for pos, body, _ in rows:
            if pos < position:
                continue
            body = bytes(body)
            if pos == position:
                frame = orjson.loads(body)
                assert frame["kind"] == "submission"
                frame["record"].update(change)
                body = chain.frame("submission", pos, chain.canonical(frame["record"]))
                conn.execute(
                    sa.update(submissions)
                    .where(submissions.c.position == pos)
                    .values(
                        received_at=datetime.fromisoformat(frame["record"]["received_at"]),
                        late=frame["record"]["late"],
                    )
                )
            prev = chain.link(prev, body)
            conn.execute(
                sa.text("UPDATE log SET body = :b, hash = :h WHERE position = :p"),
                {"b": body, "h": prev, "p": pos},
            )
        bodies = [bytes(b) for (b,) in conn.execute(sa.text("SELECT body FROM log ORDER BY position"))]
        conn.execute(sa.text("DELETE FROM merkle_nodes"))
        nodes = Frontier().append([leaf_hash(b) for b in bodies])
        conn.execute(merkle_nodes.insert(), [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes])
        conn.execute(sa.text("DELETE FROM checkpoints"))


def test_insider_rewrite_passes_verify_but_not_a_witness(
    store: Store, tmp_path: Path, signer: Signer
) -> None:
    load_registry(store)
    submit_events(store, tmp_path, "MINE", "2025-03", month("a", 3))
    late = submit_events(store, tmp_path, "MINE", "2025-03", month("b", 3, day=3),
                         received_at="2025-04-14T10:00:00+08:00")  # fmt: skip
    assert late.late and late.position is not None
    submit_events(store, tmp_path, "MINE", "2025-03", month("c", 3, day=4))
    state = tmp_path / "witness.json"
    source = StoreSource(store)

    latest_checkpoint(store, signer)
    first = witness(source, signer.verifier_key, state)
    assert first.previous is None
    held = state.read_bytes()

    # The operator backdates the late submission, recomputes chain, derived row and tree, re-signs.
    rewrite_history(store, late.position, {"received_at": "2025-04-09T10:00:00+08:00", "late": False})
    verify(store)  # the store's own check cannot see it: everything was recomputed
    with store.reading() as conn:
        assert (
            conn.execute(
                sa.select(submissions.c.late).where(submissions.c.position == late.position)
            ).scalar()
            is False
        )

    latest_checkpoint(store, signer)  # the same size, signed again over the new root
    with pytest.raises(WitnessAlarm) as alarm:
        witness(source, signer.verifier_key, state)
    assert alarm.value.kind == "FORK"
    assert alarm.value.positions is not None
    lo, hi = alarm.value.positions
    assert lo <= late.position <= hi
    assert state.read_bytes() == held  # the witness keeps what it saw

    # More records, a bigger checkpoint: it does not extend the witnessed tree.
    submit_events(store, tmp_path, "MINE", "2025-03", month("d", 2, day=5))
    latest_checkpoint(store, signer)
    with pytest.raises(WitnessAlarm) as alarm:
        witness(source, signer.verifier_key, state)
    assert alarm.value.kind == "INCONSISTENT"
    assert alarm.value.positions is not None
    lo, hi = alarm.value.positions
    assert lo <= late.position <= hi
    assert f"positions {lo}..{hi}" in str(alarm.value)
    assert state.read_bytes() == held


def test_witness_follows_an_honest_log(store: Store, tmp_path: Path, signer: Signer) -> None:
    load_registry(store)
    state = tmp_path / "w.json"
    source = StoreSource(store)
    latest_checkpoint(store, signer)
    witness(source, signer.verifier_key, state)
    for i, day in enumerate((2, 3, 4)):
        submit_events(store, tmp_path, "MINE", "2025-03", month(f"x{i}", i + 1, day=day))
        latest_checkpoint(store, signer)
        r = witness(source, signer.verifier_key, state)
        assert r.size == tree_state(store).size and r.previous is not None and r.previous < r.size
    assert witness(source, signer.verifier_key, state).message() == f"unchanged: size {r.size}"
    other = Signer.from_seed(LOG, os.urandom(32))
    with pytest.raises(VerificationError, match=r"key ID|signature"):
        witness(source, other.verifier_key, state)


# -- the command line (SQLite; the library paths above run on both) -----------------------------------


def test_cli_keys_checkpoint_receipt_witness(sqlite_url: str, tmp_path: Path) -> None:
    from tests.helpers import REGISTRY

    def run(*args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    key, pub = tmp_path / "log.key", tmp_path / "log.pub"
    vkey = run("keys", "init", "--key", str(key), "--name", LOG).output.strip()
    pub.write_text(vkey + "\n")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    run("keys", "init", "--key", str(key), "--name", LOG, code=1)  # never overwritten

    reg = tmp_path / "registry.json"
    reg.write_bytes(orjson.dumps(REGISTRY))
    run("registry", "load", str(reg), "--db", sqlite_url)
    data = write_jsonl(tmp_path / "m.jsonl", month("a", 2))
    receipt = tmp_path / "m.receipt.json"
    run("submit", str(data), "-e", "MINE", "-p", "2025-03", "--received-at", "2025-04-05T10:00:00+08:00",
        "--log-key", str(key), "--receipt", str(receipt), "--db", sqlite_url)  # fmt: skip
    shown = run("receipt", "verify", str(receipt), "--log-key", str(pub), "--file", str(data)).output
    assert "receipt valid: MINE 2025-03" in shown and "the file is the one recorded" in shown
    bad = run("receipt", "verify", str(receipt), "--log-key", vkey, "--file", str(reg), code=1).output
    assert "INVALID" in bad

    head = orjson.loads(run("checkpoint", "--db", sqlite_url).output)
    assert set(head) == {"position", "hash", "root"}
    note = run("checkpoint", "--sign", "--key", str(key), "--db", sqlite_url).output
    cp = open_checkpoint(note, vkey)
    assert cp.size == head["position"] and base64.b64encode(cp.root).decode() == head["root"]

    state = tmp_path / "w.json"
    assert (
        "first checkpoint"
        in run("witness", "--state", str(state), "--log-key", str(pub), "--db", sqlite_url).output
    )
    proof = orjson.loads(
        run("proof", "consistency", "--from", "3", "--to", str(cp.size), "--json", "--db", sqlite_url).output
    )
    verify_consistency(3, cp.size, [base64.b64decode(h) for h in proof["proof"]],
                       base64.b64decode(proof["from_root"]), cp.root)  # fmt: skip
    inc = orjson.loads(
        run(
            "proof", "inclusion", "--position", "2", "--size", str(cp.size), "--json", "--db", sqlite_url
        ).output
    )
    verify_inclusion(
        base64.b64decode(inc["leaf_hash"]), 1, cp.size, [base64.b64decode(h) for h in inc["proof"]], cp.root
    )

    got = run(
        "receipt", "get", "-e", "MINE", "-p", "2025-03", "--log-key", str(key), "--db", sqlite_url
    ).output
    assert (
        verify_receipt(got, vkey).envelope_position
        == verify_receipt(receipt.read_text(), vkey).envelope_position
    )

    store = open_store(sqlite_url)
    try:
        pos = verify_receipt(got, vkey).envelope_position
        rewrite_history(store, pos, {"received_at": "2025-04-01T10:00:00+08:00"})
        latest_checkpoint(store, load_key(key))
    finally:
        store.dispose()
    fork = run("witness", "--state", str(state), "--log-key", str(pub), "--db", sqlite_url, code=3)
    assert "FORK" in fork.output


def test_receipt_verify_needs_no_database_code(sqlite_url: str, tmp_path: Path, signer: Signer) -> None:
    """`reetrace receipt verify` runs on the verifier alone: no SQLAlchemy, no store, no prover."""
    import subprocess
    import sys

    store = open_store(sqlite_url)
    try:
        load_registry(store)
        path = write_jsonl(tmp_path / "a.jsonl", month("a", 2))
        r = submit(store, str(path), enterprise="MINE", period="2025-03", signer=signer)
    finally:
        store.dispose()
    assert r.receipt is not None
    (tmp_path / "r.json").write_text(r.receipt)
    code = (
        "import sys; from click.testing import CliRunner; from reetrace.cli import main; "
        f"res = CliRunner().invoke(main, ['receipt', 'verify', {str(tmp_path / 'r.json')!r}, "
        f"'--log-key', {signer.verifier_key!r}, '--file', {str(path)!r}]); "
        "print(res.exit_code, [m for m in ('sqlalchemy', 'reetrace.store', 'reetrace.tlog') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []"
