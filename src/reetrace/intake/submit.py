"""Monthly submissions: one enterprise's file for one period, recorded whole or not at all
(docs/contract/submissions.md).

The pipeline streams: records are parsed and validated one at a time and written in batches inside one
transaction that holds the store's write lock. Rules about one record are checked as it is read; rules
that need other records (lots that must exist, lots that must be new, retractions, cycles) are checked
in SQL over the rows just written, before commit. Any problem rolls the whole transaction back, so
nothing is half-written, and every problem is reported with its line and field.

Idempotency: an event whose ``(enterprise, event_id)`` is already recorded with the same content digest
is skipped; with a different digest it is a conflict. A file that adds nothing to a period that already
has a submission changes nothing at all and says so.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import InputError, NotRegistered
from reetrace.intake.checks import cross_record_checks
from reetrace.intake.files import Format, detect_format, open_source, read_events
from reetrace.intake.parser import Counting, Prepared, RecordRules, Rejected, prepare, prepared_in_worker
from reetrace.intake.writer import SubmissionWriter
from reetrace.periods import SHANGHAI, Period
from reetrace.store import Store
from reetrace.store.chain import canonical
from reetrace.store.derive import submission_row
from reetrace.store.schema import submissions

#: Events per write batch: bounds memory and sets how often existing event ids are looked up.
BATCH = 2000


@dataclass(frozen=True)
class SubmissionResult:
    enterprise: str
    period: str
    source: str
    position: int | None  # the envelope's position; None when nothing changed
    new_events: int
    unchanged_events: int
    lot_lines: int
    received_at: datetime
    deadline: datetime
    late: bool
    digest: str

    @property
    def noop(self) -> bool:
        return self.position is None

    def message(self) -> str:
        if self.noop:
            return (
                f"nothing changed: {self.enterprise} {self.period} is already recorded "
                f"({self.unchanged_events} events identical)"
            )
        when = "LATE" if self.late else "on time"
        if not self.new_events:
            what = "a nil report" if not self.unchanged_events else "no new events"
            return f"recorded {what} for {self.enterprise} {self.period} ({when})"
        extra = f", {self.unchanged_events} already recorded" if self.unchanged_events else ""
        return (
            f"recorded {self.new_events} events ({self.lot_lines} lot lines{extra}) for "
            f"{self.enterprise} {self.period} at position {self.position} ({when}, deadline "
            f"{self.deadline.astimezone(SHANGHAI):%Y-%m-%d %H:%M} Asia/Shanghai)"
        )


class _NothingChanged(Exception):
    """Raised inside the write transaction to roll back a submission that adds nothing."""


def submit(
    store: Store,
    source: str,
    *,
    enterprise: str,
    period: str,
    received_at: datetime | None = None,
    fmt: str | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = BATCH,
    submitter: dict[str, Any] | None = None,
    name: str | None = None,
) -> SubmissionResult:
    """Record one enterprise's file for one period. Raises InputError listing every problem.

    ``submitter`` (the service's principal, token id, client address and user agent) is recorded in the
    envelope; ``name`` is the file's name to record and report instead of ``source`` (an upload's).
    """
    per = Period.parse(period)
    given = received_at is not None
    if received_at is None:
        received_at = datetime.now(UTC)
    elif received_at.tzinfo is None:
        raise ValueError("--received-at needs an offset, e.g. 2025-02-08T10:00:00+08:00")
    form: Format = detect_format(source, fmt)
    if name is None:
        name = "<stdin>" if source == "-" else source
    deadline = per.deadline()
    late = received_at > deadline

    store.migrate()
    with store.reading() as conn:
        if not _is_registered(conn, enterprise):
            raise NotRegistered(f"enterprise {enterprise} is not in the registry")
        own_sites = _sites_of(conn, enterprise)

    with open_source(source) as raw:
        file_digest = _hash_stream(raw)
        raw.seek(0)
        rules = RecordRules(enterprise, frozenset(own_sites), str(per), per.start(), per.end())
        envelope = {
            "enterprise": enterprise,
            "period": str(per),
            "received_at": received_at.isoformat(),
            "received_at_given": given,
            "deadline": deadline.isoformat(),
            "late": late,
            "source": name,
            "digest": file_digest,
        }
        if submitter is not None:
            envelope["submitter"] = submitter
        try:
            with store.appending() as app:
                start = app.position
                env_pos = app.append("submission", canonical(envelope))
                app.add(submissions, submission_row(env_pos, envelope))
                writer = SubmissionWriter(app, enterprise, env_pos, start, name)
                items: Iterable[Prepared | Rejected]
                if store.sql.parallel_ingest and "fork" in mp.get_all_start_methods():
                    items = prepared_in_worker(raw, form, name, rules, progress)
                else:
                    stream: Any = Counting(raw, progress) if progress else raw
                    items = prepare(read_events(stream, form, name), rules, name)
                writer.run(items, batch)
                cross_record_checks(writer)
                if writer.problems or writer.more:
                    raise InputError(writer.problems, more=writer.more, file=name)
                if not writer.new and _has_submission(app.conn, enterprise, str(per), start):
                    raise _NothingChanged
                result = SubmissionResult(
                    enterprise, str(per), name, env_pos, writer.new, writer.unchanged,
                    writer.lines, received_at, deadline, late, file_digest,
                )  # fmt: skip
        except _NothingChanged:
            return SubmissionResult(
                enterprise, str(per), name, None, 0, writer.unchanged, 0, received_at,
                deadline, late, file_digest,
            )  # fmt: skip
    return result


def _hash_stream(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def _is_registered(conn: Connection, enterprise: str) -> bool:
    q = sa.text("SELECT 1 FROM current_enterprises WHERE code = :c")
    return conn.execute(q, {"c": enterprise}).first() is not None


def _sites_of(conn: Connection, enterprise: str) -> set[str]:
    q = sa.text("SELECT code FROM current_sites WHERE enterprise = :e")
    return {r[0] for r in conn.execute(q, {"e": enterprise})}


def _has_submission(conn: Connection, enterprise: str, period: str, before: int) -> bool:
    q = sa.select(submissions.c.position).where(
        submissions.c.enterprise == enterprise,
        submissions.c.period == period,
        submissions.c.position <= before,
    )
    return conn.execute(q.limit(1)).first() is not None


__all__ = ["BATCH", "SubmissionResult", "submit"]
