"""Submission receipts: built from the stored tree, verified by the separate verifier, forgeries refused."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from reetrace.store.chain import canonical, event_frame, frame
from reetrace.tlog import merkle
from reetrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from reetrace.tlog.keys import Signer
from reetrace.tlog.receipt import build_receipt
from reetrace.verifier import VerificationError, verify_receipt

SIGNER = Signer.from_seed("reetrace.example/log", bytes(range(32)))
VKEY = SIGNER.verifier_key
FILE = b'{"event_id": "E1"}\n{"event_id": "E2"}\n'


def envelope(
    position: int, enterprise: str = "BAOTOU-SEP", period: str = "2025-01", data: bytes = FILE
) -> bytes:
    record = {
        "enterprise": enterprise,
        "period": period,
        "received_at": "2025-02-08T10:00:00+08:00",
        "received_at_given": True,
        "deadline": "2025-02-10T23:59:59+08:00",
        "late": False,
        "source": "jan.jsonl",
        "digest": hashlib.sha256(data).hexdigest(),
    }
    return frame("submission", position, canonical(record))


class Log:
    """A log of frames with its node store: a registry record, then submissions."""

    def __init__(self) -> None:
        self.frames: list[bytes] = [frame("registry", 1, canonical({"groups": []}))]
        self.nodes = merkle.MemoryNodes()
        self.nodes.add(merkle.append_leaves(0, [merkle.leaf_hash(self.frames[0])], self.nodes))

    def submit(self, events: int, **kw: Any) -> tuple[int, list[bytes]]:
        p = len(self.frames) + 1
        new = [envelope(p, **kw)]
        new += [event_frame(p + i, canonical({"event_id": f"E{i}"}), i, p) for i in range(1, events + 1)]
        self.nodes.add(merkle.append_leaves(len(self.frames), [merkle.leaf_hash(f) for f in new], self.nodes))
        self.frames += new
        return p, new

    def checkpoint(self, size: int | None = None, signer: Signer = SIGNER) -> str:
        size = len(self.frames) if size is None else size
        return sign_checkpoint(Checkpoint(signer.name, size, merkle.root(size, self.nodes)), signer)

    def receipt(self, p: int, new: list[bytes], note: str | None = None) -> str:
        leaves = [merkle.leaf_hash(f) for f in new[1:]]
        return build_receipt(new[0], p, leaves, note or self.checkpoint(), self.nodes)


@pytest.fixture
def log() -> Log:
    return Log()


def edit(receipt: str, change: Any) -> str:
    obj = json.loads(receipt)
    change(obj)
    return json.dumps(obj)


def refused(receipt: str | bytes, match: str, file_bytes: bytes | None = None, key: str = VKEY) -> None:
    with pytest.raises(VerificationError, match=match):
        verify_receipt(receipt, key, file_bytes)


def test_a_receipt_verifies_and_reports_what_the_frame_records(log: Log) -> None:
    p, new = log.submit(5)
    log.submit(3, enterprise="OTHER")  # a later submission: the checkpoint is bigger than the range
    receipt = log.receipt(p, new)
    got = verify_receipt(receipt, VKEY, FILE)
    assert (got.enterprise, got.period, got.digest) == (
        "BAOTOU-SEP",
        "2025-01",
        hashlib.sha256(FILE).hexdigest(),
    )
    assert (got.envelope_position, got.first_event, got.last_event) == (2, 3, 7)
    assert got.event_leaf_hashes == tuple(merkle.leaf_hash(f) for f in new[1:])
    assert got.checkpoint.size == 11
    assert verify_receipt(receipt.encode(), VKEY).record["source"] == "jan.jsonl"


def test_the_receipt_layout(log: Log) -> None:
    p, new = log.submit(2)
    obj = json.loads(log.receipt(p, new))
    assert obj["format"] == "reetrace-receipt/1"
    assert obj["envelope"] == {"position": 2, "frame": base64.b64encode(new[0]).decode()}
    assert obj["events"]["first"] == 3 and obj["events"]["last"] == 4
    assert [base64.b64decode(h) for h in obj["events"]["leaf_hashes"]] == [
        merkle.leaf_hash(f) for f in new[1:]
    ]
    assert obj["submission"] == json.loads(new[0])["record"]
    assert obj["checkpoint"].startswith("reetrace.example/log\n4\n")
    assert [base64.b64decode(h) for h in obj["range_proof"]] == merkle.range_proof(1, 3, 4, log.nodes)


def test_a_submission_without_new_events_has_a_receipt(log: Log) -> None:
    p, new = log.submit(0)
    log.submit(2)
    got = verify_receipt(log.receipt(p, new), VKEY, FILE)
    assert (got.first_event, got.last_event, got.event_leaf_hashes) == (3, 2, ())


def test_a_file_whose_digest_differs_is_refused(log: Log) -> None:
    p, new = log.submit(3)
    refused(log.receipt(p, new), "file's SHA-256 differs", file_bytes=FILE + b"\n")


def test_displayed_fields_that_differ_from_the_frame_are_refused(log: Log) -> None:
    p, new = log.submit(3)
    receipt = log.receipt(p, new)
    refused(
        edit(receipt, lambda o: o["submission"].update(enterprise="HONEST-CO")),
        "shows enterprise 'HONEST-CO'",
    )
    refused(edit(receipt, lambda o: o["submission"].update(period="2025-02")), "shows period '2025-02'")
    refused(edit(receipt, lambda o: o["submission"].update(late=0)), "shows late 0")
    refused(edit(receipt, lambda o: o["submission"].update(approved=True)), "does not record")
    refused(edit(receipt, lambda o: o["submission"].pop("digest")), "does not show the submission's digest")


def test_a_forged_frame_does_not_match_the_proof(log: Log) -> None:
    p, new = log.submit(3)
    forged = envelope(p, enterprise="HONEST-CO")

    def swap(o: dict[str, Any]) -> None:
        o["envelope"]["frame"] = base64.b64encode(forged).decode()
        o["submission"]["enterprise"] = "HONEST-CO"

    refused(edit(log.receipt(p, new), swap), "range proof .* does not match the root")


def test_a_receipt_whose_checkpoint_is_smaller_than_its_range_is_refused(log: Log) -> None:
    p, new = log.submit(5)
    with pytest.raises(ValueError, match="does not cover"):
        log.receipt(p, new, log.checkpoint(size=6))
    receipt = log.receipt(p, new)
    refused(
        edit(receipt, lambda o: o.update(checkpoint=log.checkpoint(size=6))),
        "smaller than the receipt's range",
    )


def test_a_checkpoint_from_another_key_or_a_bad_signature_is_refused(log: Log) -> None:
    p, new = log.submit(3)
    receipt = log.receipt(p, new)
    impostor = Signer.from_seed("reetrace.example/log", bytes(32))
    refused(edit(receipt, lambda o: o.update(checkpoint=log.checkpoint(signer=impostor))), "has key ID")
    refused(receipt, "not signed by the trusted key", key=Signer.from_seed("other", bytes(32)).verifier_key)
    refused(
        edit(receipt, lambda o: o.update(checkpoint=o["checkpoint"].replace("\n5\n", "\n6\n"))),
        "bad signature",
    )


def test_events_that_are_not_the_range_are_refused(log: Log) -> None:
    p, new = log.submit(4)
    log.submit(2)
    receipt = log.receipt(p, new)
    refused(edit(receipt, lambda o: o["events"]["leaf_hashes"].pop()), "do not directly follow")
    refused(edit(receipt, lambda o: o["events"].update(first=p + 2, last=p + 5)), "do not directly follow")

    def drop_last(o: dict[str, Any]) -> None:
        o["events"]["leaf_hashes"].pop()
        o["events"]["last"] -= 1

    refused(edit(receipt, drop_last), "range proof")

    def reorder(o: dict[str, Any]) -> None:
        o["events"]["leaf_hashes"].reverse()

    refused(edit(receipt, reorder), "range proof")
    refused(edit(receipt, lambda o: o.update(range_proof=o["range_proof"][:-1])), "shorter")
    refused(edit(receipt, lambda o: o["range_proof"].append(o["range_proof"][0])), "longer")


def test_an_event_frame_cannot_pass_for_an_envelope(log: Log) -> None:
    p, new = log.submit(4)
    note = log.checkpoint()
    # a well-proven receipt whose "envelope" is in fact the event at p + 1
    proof = merkle.range_proof(p, p + 3, 6, log.nodes)
    obj = json.loads(log.receipt(p, new))
    obj["envelope"] = {"position": p + 1, "frame": base64.b64encode(new[1]).decode()}
    obj["events"] = {"first": p + 2, "last": p + 4, "leaf_hashes": obj["events"]["leaf_hashes"][1:]}
    obj["range_proof"] = [base64.b64encode(h).decode() for h in proof]
    obj["checkpoint"] = note
    refused(json.dumps(obj), "not a submission envelope")


def test_an_envelope_cannot_be_moved_to_another_position(log: Log) -> None:
    log.submit(1)
    p, new = log.submit(0)
    q, _ = log.submit(0)
    obj = json.loads(log.receipt(p, new))
    obj["envelope"]["position"] = q
    obj["events"] = {"first": q + 1, "last": q, "leaf_hashes": []}
    refused(json.dumps(obj), "range proof")


def test_a_frame_recording_another_position_than_its_own_is_refused(log: Log) -> None:
    """Were the store ever to log an envelope under the wrong position, its receipt must not verify."""
    wrong = envelope(99)
    log.nodes.add(merkle.append_leaves(1, [merkle.leaf_hash(wrong)], log.nodes))
    note = log.checkpoint(size=2)
    obj = {
        "format": "reetrace-receipt/1",
        "submission": json.loads(wrong)["record"],
        "envelope": {"position": 2, "frame": base64.b64encode(wrong).decode()},
        "events": {"first": 3, "last": 2, "leaf_hashes": []},
        "range_proof": [base64.b64encode(h).decode() for h in merkle.range_proof(1, 1, 2, log.nodes)],
        "checkpoint": note,
    }
    refused(json.dumps(obj), "the proven frame says position 99, not 2")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda o: o.update(format="reetrace-receipt/2"), "unknown receipt format"),
        (lambda o: o.update(extra=1), "exactly the keys"),
        (lambda o: o["envelope"].update(position=True), "positive integer"),
        (lambda o: o["envelope"].update(position="2"), "positive integer"),
        (lambda o: o["envelope"].update(frame="not base64!"), "not valid base64"),
        (lambda o: o["events"]["leaf_hashes"].append("AAAA"), "32-byte"),
        (lambda o: o.update(checkpoint=None), "signed note"),
        (lambda o: o.update(submission=[]), "JSON object"),
    ],
)
def test_malformed_receipts_are_refused(log: Log, change: Any, match: str) -> None:
    p, new = log.submit(2)
    refused(edit(log.receipt(p, new), change), match)


def test_duplicate_json_keys_and_junk_are_refused(log: Log) -> None:
    p, new = log.submit(2)
    receipt = log.receipt(p, new)
    refused(receipt.replace('"format"', '"format": "x", "format"', 1), "duplicate JSON key 'format'")
    refused(receipt + "junk", "not valid JSON")
    refused(b"\xff" + receipt.encode(), "not valid JSON")


def test_the_builder_refuses_inputs_that_differ_from_the_stored_tree(log: Log) -> None:
    p, new = log.submit(3)
    leaves = [merkle.leaf_hash(f) for f in new[1:]]
    with pytest.raises(ValueError, match="differ from the stored leaves"):
        build_receipt(new[0], p, leaves[::-1], log.checkpoint(), log.nodes)
    with pytest.raises(ValueError, match="differ from the stored leaves"):
        build_receipt(envelope(p, enterprise="HONEST-CO"), p, leaves, log.checkpoint(), log.nodes)
    with pytest.raises(ValueError, match="not the submission envelope"):
        build_receipt(new[1], p, leaves, log.checkpoint(), log.nodes)
    wrong_root = sign_checkpoint(Checkpoint(SIGNER.name, 5, bytes(32)), SIGNER)
    with pytest.raises(ValueError, match="root"):
        build_receipt(new[0], p, leaves, wrong_root, log.nodes)
