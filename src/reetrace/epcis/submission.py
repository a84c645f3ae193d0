"""An EPCIS document that follows our mapping -> a submission like any other.

The document is read event by event (:func:`reetrace.epcis.importer.parse_document`); if any event has a
problem, every problem is reported (event index and EPCIS path) and nothing is written. Otherwise the
events are written, in document order, as a JSON Lines temporary file and handed to
:func:`reetrace.intake.submit.submit`: one code path for every submission, so the same rules, the same
all-or-nothing transaction and the same errors. Line *n* of that file is event *n - 1* of the document,
and submit's problems are reported as ``eventList[n-1]``. The envelope keeps the document's own name and
records ``converted_from: {"format": "epcis", "digest": <SHA-256 of the document>}``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from reetrace.epcis.ids import DEFAULT_LOT_IDS, LotIds
from reetrace.epcis.importer import parse_document
from reetrace.errors import InputError, Problem
from reetrace.intake.submit import SubmissionResult, submit
from reetrace.models import Event
from reetrace.store.base import Store


def _in_document_terms(exc: InputError, name: str) -> InputError:
    problems = [
        Problem(
            p.line,
            f"eventList[{p.line - 1}]" + (f" {p.field}" if p.field else "") if p.line > 0 else p.field,
            p.reason,
            name,
        )
        for p in exc.problems
    ]
    return InputError(problems, more=exc.more, file=name)


def import_epcis(
    store: Store,
    document: bytes | str | Path,
    *,
    enterprise: str,
    period: str,
    received_at: datetime | None = None,
    source_name: str | None = None,
    lot_ids: LotIds = DEFAULT_LOT_IDS,
    submitter: dict[str, Any] | None = None,
) -> SubmissionResult:
    """Submit an EPCIS document (its bytes, or a path) as ``enterprise``'s submission for ``period``.

    ``submitter`` (the service's principal, token id, client address and user agent) is recorded in the
    envelope, as for any submission over HTTP.

    Raises :class:`InputError` with every problem (``line`` = event index + 1) when any event is wrong.
    """
    if isinstance(document, bytes):
        raw, name = document, source_name or "<epcis>"
    else:
        raw, name = Path(document).read_bytes(), source_name or str(document)
    try:
        results = parse_document(raw, lot_ids=lot_ids, enterprise=enterprise)
    except InputError as exc:
        raise InputError(exc.problems, more=exc.more, file=name) from None
    problems = [p for _, r in results if isinstance(r, list) for p in r]
    if problems:
        raise InputError([Problem(p.line, p.field, p.reason, name) for p in problems], file=name)
    evs = [r for _, r in results if isinstance(r, Event)]
    fd, tmp = tempfile.mkstemp(prefix="reetrace-epcis-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as fh:
            for ev in evs:
                fh.write(orjson.dumps(ev.canonical()) + b"\n")
        via = {"format": "epcis", "digest": hashlib.sha256(raw).hexdigest()}
        try:
            return submit(
                store, tmp, enterprise=enterprise, period=period, received_at=received_at, fmt="jsonl",
                name=name, converted_from=via, submitter=submitter,
            )  # fmt: skip
        except InputError as exc:
            raise _in_document_terms(exc, name) from None
    finally:
        os.unlink(tmp)


__all__ = ["import_epcis"]
