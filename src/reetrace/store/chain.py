"""The canonical encoding of log records and the hash chain over them.

A record is stored as its *frame*: canonical JSON (UTF-8, object keys sorted by code point, no
white space, floats in shortest round-trip form, times as ISO 8601 text with offset) of

    {"kind": KIND, "position": N, "record": {...}, ...extras}

where extras are ``"submission"`` (the envelope's position) and ``"line"`` (the line in the submitted
file) for events. The link of position N is ``SHA-256(link[N-1] || frame[N])`` with ``link[0]`` 32 zero
bytes. ``verify`` recomputes every link from the stored frames, so changing one byte of any stored
record, or reordering, inserting or removing one, breaks the chain at that position.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

GENESIS = bytes(32)
_OPTS = orjson.OPT_SORT_KEYS


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes of a JSON-able value."""
    return orjson.dumps(obj, option=_OPTS)


def frame(kind: str, position: int, record: bytes, **extra: int | str) -> bytes:
    """The frame of a record whose canonical bytes are already known (no re-encoding of ``record``)."""
    parts: dict[str, bytes] = {
        "kind": canonical(kind),
        "position": canonical(position),
        "record": record,
    }
    for key, value in extra.items():
        parts[key] = canonical(value)
    return b"{" + b",".join(b'"' + k.encode() + b'":' + parts[k] for k in sorted(parts)) + b"}"


def event_frame(position: int, record: bytes, line: int, submission: int) -> bytes:
    """:func:`frame` of an event, spelled out: the hot path of a submission (same bytes, a test checks)."""
    return b'{"kind":"event","line":%d,"position":%d,"record":%b,"submission":%d}' % (
        line,
        position,
        record,
        submission,
    )


def link(prev: bytes, framed: bytes) -> bytes:
    return hashlib.sha256(prev + framed).digest()


def digest(record: bytes) -> str:
    """Content digest of a record (the idempotency check compares these)."""
    return hashlib.sha256(record).hexdigest()
