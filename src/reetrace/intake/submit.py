"""Monthly submissions: one enterprise's file for one period, recorded whole or not at all
(docs/contract/submissions.md).

Two phases, so that no file — however large, slow or malformed — holds the store's write lock while it
is read:

1. **Without the lock** (and without a write connection): the file is hashed, read, validated record by
   record, checked against the submission's own rules (reporter, site, period), encoded canonically and
   spooled to a temporary file (:class:`reetrace.intake.spool.Spool`); on PostgreSQL, for a file of
   :data:`PARSE_FORK_BYTES` or more, in forked parser processes (two for JSON Lines, one for CSV), a
   smaller file in this process (the fork would cost more than it saves). A file with record-level
   problems never waits for the lock: if another writer holds it, they are reported at once; if not,
   phase 2 runs too so that the problems across records join the report, and rolls back.
2. **Under the lock**, in one transaction: positions, the chain and the derived rows, written in batches
   (binary COPY on PostgreSQL); rules that need other records (lots that must exist, lots that must be
   new, retractions, cycles, repeated ids) are checked in SQL over the rows just written, before
   commit. Any problem rolls the whole transaction back, so nothing is half-written. The registry is
   read again under the lock: a key revoked, signatures made required or a site moved while phase 1
   ran refuses the submission as if phase 1 had read the registry then.

Idempotency: an event whose ``(enterprise, event_id)`` is already recorded with the same content digest
is skipped; with a different digest it is a conflict. A file that adds nothing to a period that already
has a submission changes nothing at all and says so.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import Busy, InputError, NotRegistered, Problem
from reetrace.intake.checks import cross_record_checks
from reetrace.intake.files import Format, detect_format, open_source, read_events
from reetrace.intake.parser import (
    Counting,
    Prepared,
    RecordRules,
    Rejected,
    prepare,
    prepared_in_worker,
    prepared_in_workers,
)
from reetrace.intake.signatures import check_submission_signature, current_enterprise
from reetrace.intake.spool import Spool
from reetrace.intake.warnings import RecordWarnings, cross_record_warnings
from reetrace.intake.writer import SubmissionWriter
from reetrace.messages import M_, Instant, Message
from reetrace.models import sane_time
from reetrace.periods import SHANGHAI, Period
from reetrace.store import Store
from reetrace.store.chain import canonical
from reetrace.store.derive import submission_row
from reetrace.store.schema import current_sites, events, submissions

if TYPE_CHECKING:
    from reetrace.tlog.keys import Signer

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
    #: The receipt time was given by the caller (a historical load), not taken from the clock.
    received_at_given: bool = False
    #: What was recorded but looks wrong (docs/contract/submissions.md#warnings), by line and field.
    warnings: tuple[Problem, ...] = ()
    #: The receipt (``reetrace-receipt/1`` JSON, docs/transparency-log.md) when a log key was given.
    receipt: str | None = None

    @property
    def noop(self) -> bool:
        return self.position is None

    def message(self) -> Message:
        who: dict[str, Any] = {"ent": self.enterprise, "period": self.period}
        if self.noop:
            return M_(
                "nothing changed: {ent} {period} is already recorded ({events} events identical)",
                events=self.unchanged_events, **who,
            )  # fmt: skip
        when = M_("LATE") if self.late else M_("on time")
        if self.received_at_given:
            when = M_(
                "{when}, received_at given as {received_at}", when=when, received_at=Instant(self.received_at)
            )
        if not self.new_events:
            if not self.unchanged_events:
                return M_("recorded a nil report for {ent} {period} ({when})", when=when, **who)
            return M_("recorded no new events for {ent} {period} ({when})", when=when, **who)
        what: dict[str, Any] = {
            "events": self.new_events, "lines": self.lot_lines, "position": self.position, "when": when,
            "deadline": f"{self.deadline.astimezone(SHANGHAI):%Y-%m-%d %H:%M}", **who,
        }  # fmt: skip
        if self.unchanged_events:
            return M_(
                "recorded {events} events ({lines} lot lines, {unchanged} already recorded) for {ent} "
                "{period} at position {position} ({when}, deadline {deadline} Asia/Shanghai)",
                unchanged=self.unchanged_events, **what,
            )  # fmt: skip
        return M_(
            "recorded {events} events ({lines} lot lines) for {ent} {period} at position {position} ({when}, "
            "deadline {deadline} Asia/Shanghai)", **what,
        )  # fmt: skip


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
    signer: Signer | None = None,
    signature: str | None = None,
    encoding: str | None = None,
    submitter: dict[str, Any] | None = None,
    name: str | None = None,
    converted_from: dict[str, str] | None = None,
) -> SubmissionResult:
    """Record one enterprise's file for one period. Raises InputError listing every problem.

    With the log's ``signer``, the result carries a receipt of what was recorded, against a checkpoint
    signed just after the commit. ``signature`` is the enterprise's signed note over the submission
    (:mod:`reetrace.intake.signatures`): checked against the registry and recorded in the envelope;
    required when the registry says so. ``encoding``: of a CSV file (default: detected, UTF-8 or
    GB18030; see ``read_events``). ``submitter`` (the service's principal, token id, client address and
    user agent) is recorded in the envelope; ``name`` is the file's name to record and report instead
    of ``source`` (an upload's).

    A file converted from another format (an EPCIS document) is submitted as the JSON Lines it became,
    under the name of the original (``name``); ``converted_from`` (e.g. ``{"format": "epcis",
    "digest": ...}``) is recorded in the envelope, so the log says where the events came from.
    """
    per = Period.parse(period)
    given = received_at is not None
    if received_at is None:
        received_at = datetime.now(UTC)
    elif received_at.tzinfo is None:
        raise ValueError("--received-at needs an offset, e.g. 2025-02-08T10:00:00+08:00")
    else:
        try:
            sane_time(received_at)
        except ValueError as exc:
            raise ValueError(f"--received-at: {exc}") from None
    form: Format = detect_format(source, fmt)
    if name is None:
        name = "<stdin>" if source == "-" else source
    deadline = per.deadline()
    late = received_at > deadline

    store.migrate()
    # Everything needed from the registry, in one connection (each checkout costs round trips).
    with store.reading() as conn:
        registered = current_enterprise(conn, enterprise)
        if registered is None:
            raise NotRegistered(f"enterprise {enterprise} is not in the registry")
        own_sites = _sites_of(conn, enterprise)

    rules = RecordRules(enterprise, frozenset(own_sites), str(per), per.start(), per.end())
    with ExitStack() as stack:
        # Phase 1, no lock: hash, read, validate, encode, spool.
        raw = stack.enter_context(open_source(source))
        file_digest, size = _hash_stream(raw)
        raw.seek(0)
        check_signature = partial(
            check_submission_signature, enterprise=enterprise, period=str(per), digest=file_digest,
            note=signature, received_at=received_at, file=name,
        )  # fmt: skip
        signed = check_signature(registered)
        items: Iterable[Prepared | Rejected]
        if _parse_in_parser_processes(store, size):
            if form == "jsonl":
                items = prepared_in_workers(raw, name, rules, progress)
            else:  # CSV records span rows: one parser process reads the whole file
                items = prepared_in_worker(raw, form, name, rules, progress, encoding)
        else:
            stream: Any = Counting(raw, progress) if progress else raw
            items = prepare(read_events(stream, form, name, encoding), rules, name)
        spool = stack.enter_context(Spool.of(items))
        # A file with records that fail on their own never waits for the lock: if another writer holds
        # it, those problems are reported at once; if not, the rules across records are checked too
        # (under the lock, briefly: nothing is parsed there) so that the report is complete.
        wait = not (spool.problems or spool.more)
        envelope = {
            "enterprise": enterprise,
            "period": str(per),
            "received_at": received_at.isoformat(),
            "received_at_given": given,
            "deadline": deadline.isoformat(),
            "late": late,
            "source": envelope_source(name),
            "digest": file_digest,
        }
        if signed is not None:
            envelope["signature"] = signed
        if submitter is not None:
            envelope["submitter"] = submitter
        if converted_from is not None:
            envelope["converted_from"] = converted_from
        # Phase 2, under the lock: positions, chain, rows, the checks across records, commit.
        try:
            with store.appending(wait=wait) as app:
                start = app.position
                # Phase 1 held no lock: the registry may have changed since it was read (a key revoked,
                # signatures made required, the enterprise or a site removed). What it says now, under
                # the lock, decides; unchanged, this is two indexed reads.
                now = current_enterprise(app.conn, enterprise)
                if now is None:
                    raise NotRegistered(f"enterprise {enterprise} is not in the registry")
                if now != registered:
                    check_signature(now)
                closed = own_sites - _sites_of(app.conn, enterprise)
                env_pos = app.append("submission", canonical(envelope))
                app.add(submissions, submission_row(env_pos, envelope))
                writer = SubmissionWriter(app, enterprise, env_pos, start, name)
                writer.problems, writer.more = list(spool.problems), spool.more
                writer.invalid_outputs = spool.invalid_outputs
                writer.warn = warn = RecordWarnings(received_at)
                writer.run(spool, batch)
                cross_record_checks(writer)
                if closed:
                    _closed_sites(writer, closed)
                if writer.problems or writer.more:
                    raise InputError(writer.problems, more=writer.more, file=name)
                if not writer.new and _has_submission(app.conn, enterprise, str(per), start):
                    raise _NothingChanged
                found = [*warn.found, *warn.file_level(), *cross_record_warnings(writer)]
                result = SubmissionResult(
                    enterprise, str(per), name, env_pos, writer.new, writer.unchanged,
                    writer.lines, received_at, deadline, late, file_digest, given,
                    tuple(sorted(Problem(line, fld, reason, name) for line, fld, reason in found)),
                )  # fmt: skip
        except Busy:
            if wait:
                raise
            raise InputError(spool.problems, more=spool.more, file=name) from None
        except _NothingChanged:
            return SubmissionResult(
                enterprise, str(per), name, None, 0, writer.unchanged, 0, received_at,
                deadline, late, file_digest, given,
            )  # fmt: skip
    if signer is not None and result.position is not None:
        from dataclasses import replace

        from reetrace.transparency import receipt_at

        result = replace(result, receipt=receipt_at(store, signer, result.position))
    return result


#: The longest source name an envelope records (a file name is at most 255 bytes on common systems).
SOURCE_MAX = 255


def envelope_source(name: str) -> str:
    """What the envelope records of where a file came from: its base name, bounded.

    Only the base name: the chain must not depend on where the file sat on the submitter's disk
    (the same file submitted from two directories, or on two backends, gives the same chain).
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1] or name
    return base[:SOURCE_MAX]


def _hash_stream(stream: IO[bytes]) -> tuple[str, int]:
    """The SHA-256 of the (decompressed) content, and its size in bytes."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


#: Content (decompressed) of at least this many bytes is parsed in forked parser processes where the
#: backend allows it; a smaller file is parsed in this process. Forking costs tens of milliseconds (far
#: more from a large process such as a service worker) and pays only when parsing takes longer than
#: that: 1 MiB is some 2,400 events. ``REETRACE_PARSE_FORK_BYTES`` overrides it (0: always fork).
PARSE_FORK_BYTES = 1 << 20


def parse_fork_bytes() -> int:
    """:data:`PARSE_FORK_BYTES`, or ``REETRACE_PARSE_FORK_BYTES`` when set."""
    raw = os.environ.get("REETRACE_PARSE_FORK_BYTES")
    if raw is None or not raw.strip():
        return PARSE_FORK_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"$REETRACE_PARSE_FORK_BYTES={raw!r} is not a whole number") from None
    if value < 0:
        raise ValueError("$REETRACE_PARSE_FORK_BYTES must be 0 or more")
    return value


def _parse_in_parser_processes(store: Store, size: int) -> bool:
    """Whether a file of ``size`` bytes (decompressed, known from the hashing pass) is parsed in forked
    parser processes: only on a backend that ingests in parallel, and only a file big enough to pay
    for the fork. Both ways give the same records, problems and warnings (tests/test_parse_dispatch.py)."""
    threshold = parse_fork_bytes()  # read on every backend: a bad setting is an error everywhere
    if not store.sql.parallel_ingest or size < threshold:
        return False
    import multiprocessing as mp  # only here: a small file or SQLite never loads it (start-up time)

    return "fork" in mp.get_all_start_methods()


def _sites_of(conn: Connection, enterprise: str) -> set[str]:
    q = sa.select(current_sites.c.code).where(current_sites.c.enterprise == enterprise)
    return set(conn.execute(q).scalars())


def _closed_sites(writer: SubmissionWriter, closed: set[str]) -> None:
    """The lines at a site the registry dropped while the file was read: what the record rule says of
    a site that is not registered, as phase 1 would have said had it read the registry later."""
    q = sa.select(events.c.line, events.c.site).where(
        events.c.position > writer.start, events.c.site.in_(sorted(closed))
    )
    for line, site in writer.app.conn.execute(q.order_by(events.c.line)):
        writer.problem(
            line, "site", M_("{site} is not a registered site of {ent}", site=site, ent=writer.enterprise)
        )


def _has_submission(conn: Connection, enterprise: str, period: str, before: int) -> bool:
    q = sa.select(submissions.c.position).where(
        submissions.c.enterprise == enterprise,
        submissions.c.period == period,
        submissions.c.position <= before,
    )
    return conn.execute(q.limit(1)).first() is not None


__all__ = ["BATCH", "SubmissionResult", "submit"]
