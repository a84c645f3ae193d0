"""Receipts: what an enterprise keeps to prove, later and to anyone, what the log recorded for it.

A submission occupies consecutive log positions: its envelope at ``p`` and its new events at
``p + 1 .. q``. The receipt carries the envelope's frame, the events' leaf hashes, one range proof for
leaves ``p - 1 .. q - 1`` and a checkpoint signed by the log whose size is at least ``q``. Layout
(``reetrace-receipt/1``, see docs/transparency-log.md)::

    {"format": "reetrace-receipt/1",
     "submission": {...},                 # the envelope record's fields, for people; unauthenticated
     "envelope": {"position": p, "frame": base64},
     "events": {"first": p + 1, "last": q, "leaf_hashes": [base64, ...]},
     "range_proof": [base64, ...],        # RANGE(p - 1, q, D[size]) of reetrace.tlog.merkle
     "checkpoint": "<signed note>"}

The builder takes plain values (frames, hashes, the note text, a node reader), so the store calls it
without handing over a connection, and it refuses to issue a receipt that would not verify against the
stored nodes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from reetrace.tlog import merkle
from reetrace.tlog.checkpoint import read_checkpoint

FORMAT = "reetrace-receipt/1"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def build_receipt(
    envelope_frame: bytes,
    envelope_position: int,
    event_leaf_hashes: Sequence[bytes],
    checkpoint_note: str,
    reader: merkle.NodeReader,
) -> str:
    """The receipt (JSON text) of the submission whose envelope ``envelope_frame`` is at
    ``envelope_position`` and whose events have ``event_leaf_hashes``, under ``checkpoint_note``.

    Reads the range's level-0 nodes (to check the inputs against the stored tree), the root of the
    checkpoint's size and the range proof's nodes: three batched reads.
    """
    checkpoint = read_checkpoint(checkpoint_note)
    p = envelope_position
    q = p + len(event_leaf_hashes)
    if p < 1:
        raise ValueError(f"log positions start at 1, got {p}")
    if q > checkpoint.size:
        raise ValueError(f"checkpoint of size {checkpoint.size} does not cover positions {p}..{q}")
    frame = json.loads(envelope_frame)
    if frame.get("kind") != "submission" or frame.get("position") != p:
        raise ValueError(f"the frame is not the submission envelope at position {p}")

    leaves = [merkle.leaf_hash(envelope_frame), *event_leaf_hashes]
    keys = [(0, i) for i in range(p - 1, q)]
    stored = reader.get(keys)
    if [stored.get(k) for k in keys] != leaves:
        raise ValueError(f"the envelope or event hashes differ from the stored leaves {p}..{q}")
    if merkle.root(checkpoint.size, reader) != checkpoint.root:
        raise ValueError(f"the checkpoint's root is not the stored tree's root of size {checkpoint.size}")

    receipt: dict[str, Any] = {
        "format": FORMAT,
        "submission": frame["record"],
        "envelope": {"position": p, "frame": _b64(envelope_frame)},
        "events": {"first": p + 1, "last": q, "leaf_hashes": [_b64(h) for h in event_leaf_hashes]},
        "range_proof": [_b64(h) for h in merkle.range_proof(p - 1, q - 1, checkpoint.size, reader)],
        "checkpoint": checkpoint_note,
    }
    return json.dumps(receipt, indent=1, ensure_ascii=False) + "\n"
