"""Monthly submissions: one enterprise's file for one period, recorded whole or not at all (BRIEF §3).

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
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from reetrace.derive import event_rows, submission_row
from reetrace.errors import InputError, NotRegistered, Problem
from reetrace.ingest import Format, Parsed, detect_format, open_source, read_events
from reetrace.models import Event
from reetrace.store import Store
from reetrace.store.base import Appender
from reetrace.store.chain import canonical, digest
from reetrace.store.schema import edges, events, inputs, lots, retractions, submissions

SHANGHAI = ZoneInfo("Asia/Shanghai")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Events per write batch: bounds memory and sets how often existing event ids are looked up.
BATCH = 2000
#: Problems kept for the report; the rest are counted.
MAX_PROBLEMS = 1000


@dataclass(frozen=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text.strip())
        if not m:
            raise ValueError(f"period {text!r} is not YYYY-MM")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=SHANGHAI)

    def end(self) -> datetime:
        """Start of the next month (exclusive end), Asia/Shanghai."""
        y, m = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(y, m, 1, tzinfo=SHANGHAI)

    def deadline(self) -> datetime:
        """The 10th of the following month, 23:59:59 Asia/Shanghai (BRIEF §3)."""
        nxt = self.end()
        return nxt.replace(day=10, hour=23, minute=59, second=59)

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)


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


class _Counting:
    """Wraps a binary stream to report bytes read to a progress callback."""

    def __init__(self, stream: IO[bytes], progress: Callable[[int], None]) -> None:
        self._s = stream
        self._p = progress

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> bytes:
        line = self._s.readline()
        if not line:
            raise StopIteration
        self._p(len(line))
        return line

    def read(self, n: int = -1) -> bytes:
        data = self._s.read(n)
        self._p(len(data))
        return data

    def readline(self, n: int = -1) -> bytes:
        data = self._s.readline(n)
        self._p(len(data))
        return data


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
) -> SubmissionResult:
    """Record one enterprise's file for one period. Raises InputError listing every problem."""
    per = Period.parse(period)
    given = received_at is not None
    if received_at is None:
        received_at = datetime.now(UTC)
    elif received_at.tzinfo is None:
        raise ValueError("--received-at needs an offset, e.g. 2025-02-08T10:00:00+08:00")
    form: Format = detect_format(source, fmt)
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
        stream: Any = _Counting(raw, progress) if progress else raw
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
        try:
            with store.appending() as app:
                start = app.position
                env_pos = app.append("submission", canonical(envelope))
                app.add(submissions, submission_row(env_pos, envelope))
                writer = _Writer(app, enterprise, per, own_sites, env_pos, start, name)
                writer.run(read_events(stream, form, name), batch)
                writer.cross_record_checks()
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


class _Writer:
    """State of one submission while it streams into the open transaction."""

    def __init__(
        self,
        app: Appender,
        enterprise: str,
        period: Period,
        own_sites: set[str],
        env_pos: int,
        start: int,
        file: str,
    ) -> None:
        self.app = app
        self.enterprise = enterprise
        self.period = period
        self.period_start = period.start()
        self.period_end = period.end()
        self.own_sites = own_sites
        self.env_pos = env_pos
        self.start = start
        self.file = file
        self.problems: list[Problem] = []
        self.more = 0
        self.new = 0
        self.unchanged = 0
        self.lines = 0
        #: Output lots of records that failed validation: "lot does not exist" errors for them would
        #: only repeat the first error.
        self.invalid_outputs: set[str] = set()

    def problem(self, line: int, fld: str, reason: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(line, fld, reason, self.file))
        else:
            self.more += 1

    def run(self, records: Iterable[Parsed], batch: int) -> None:
        pending: list[tuple[int, Event]] = []
        for rec in records:
            if rec.event is None:
                for p in rec.problems:
                    self.problem(p.line, p.field, p.reason)
                if len(self.invalid_outputs) < 100_000:
                    self.invalid_outputs.update(rec.outputs_seen)
                continue
            if self._record_ok(rec.line, rec.event):
                pending.append((rec.line, rec.event))
            if len(pending) >= batch:
                self._write(pending)
                pending = []
        if pending:
            self._write(pending)

    def _record_ok(self, line: int, ev: Event) -> bool:
        ok = True
        if ev.enterprise != self.enterprise:
            self.problem(line, "enterprise", f"{ev.enterprise}: this submission is {self.enterprise}'s")
            return False  # its site and lots would only repeat the same mistake
        if ev.site is not None and ev.site not in self.own_sites:
            self.problem(line, "site", f"{ev.site} is not a registered site of {self.enterprise}")
            ok = False
        if not (self.period_start <= ev.occurred_at < self.period_end):
            self.problem(
                line, "occurred_at",
                f"{ev.occurred_at.isoformat()} is outside the period {self.period} (Asia/Shanghai)",
            )  # fmt: skip
            ok = False
        return ok

    def _write(self, pending: Sequence[tuple[int, Event]]) -> None:
        app = self.app
        encoded = [(line, ev, canonical(ev.canonical())) for line, ev in pending]
        existing = self._existing({ev.event_id for _, ev, _ in encoded})
        seen: dict[str, int] = {}
        for line, ev, record in encoded:
            dig = digest(record)
            prior = existing.get(ev.event_id)
            if ev.event_id in seen:
                self.problem(line, "event_id", f"{ev.event_id} repeats line {seen[ev.event_id]}")
                continue
            seen[ev.event_id] = line
            if prior is not None:
                pos, prior_line, prior_digest = prior
                if pos > self.start:
                    self.problem(line, "event_id", f"{ev.event_id} repeats line {prior_line}")
                elif prior_digest == dig:
                    self.unchanged += 1
                else:
                    self.problem(
                        line, "event_id",
                        f"conflict: {ev.event_id} is already recorded at position {pos} with "
                        "different content (correct it with a retract and a new event_id)",
                    )  # fmt: skip
                continue
            pos = app.append_event(record, line, self.env_pos)
            ev_row, lot_rows, in_rows, edge_rows = event_rows(pos, self.env_pos, line, ev, dig)
            app.add(events, ev_row)
            app.extend(lots, lot_rows)
            app.extend(inputs, in_rows)
            app.extend(edges, edge_rows)
            self.new += 1
            self.lines += len(lot_rows) + len(in_rows)
        app.flush(wait=False)  # the next batch is parsed while this one is written

    def _existing(self, ids: set[str]) -> dict[str, tuple[int, int, str]]:
        self.app.join()  # the previous batch must be in before we look for its ids
        if not ids:
            return {}
        conn = self.app.conn
        if conn.dialect.name == "postgresql":
            # One array parameter: a 2,000-item IN list costs more to send and parse than to run.
            q = sa.text(
                "SELECT event_id, position, line, digest FROM events "
                "WHERE enterprise = :ent AND event_id = ANY(:ids)"
            ).bindparams(sa.bindparam("ids", type_=ARRAY(sa.String)))
            rows = conn.execute(q, {"ent": self.enterprise, "ids": list(ids)})
        else:
            sel = sa.select(events.c.event_id, events.c.position, events.c.line, events.c.digest)
            rows = conn.execute(
                sel.where(events.c.enterprise == self.enterprise, events.c.event_id.in_(list(ids)))
            )
        return {r[0]: (int(r[1]), int(r[2]), r[3]) for r in rows}

    # -- rules across records, in SQL over what this submission wrote -----------------------------

    def cross_record_checks(self) -> None:
        self.app.flush()
        conn = self.app.conn
        p = {"start": self.start, "ent": self.enterprise}
        self._retractions(conn, p)
        for line, lot, idx in conn.execute(_MISSING_OWN_LOTS, p):
            if lot not in self.invalid_outputs:
                self.problem(
                    line, f"inputs[{idx}].lot",
                    f"{lot} does not exist: no earlier event of {self.enterprise} created it",
                )  # fmt: skip
        for line, lot, idx, prev_id, prev_pos in conn.execute(_NOT_NEW_LOTS, p):
            self.problem(
                line, f"outputs[{idx}].lot",
                f"{lot} already exists (created by event {prev_id} at position {prev_pos}); "
                "an output lot must be new",
            )  # fmt: skip
        pg = conn.dialect.name == "postgresql"
        if pg:
            # The planner cannot size the recursive walk and picks hash joins that read every edge of the
            # store (0.8 s per submission at 1M edges); index nested loops touch only this submission's
            # neighbourhood (30 ms). Scoped to this one query.
            conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        for line, src, dst in conn.execute(_CYCLES, p):
            self.problem(
                line,
                "inputs",
                f"this event would close a cycle in the lot graph: {dst} already leads to {src}",
            )
        if pg:
            conn.exec_driver_sql("SET LOCAL enable_hashjoin = DEFAULT")

    def _retractions(self, conn: Connection, p: dict[str, Any]) -> None:
        rows = []
        targets: dict[int, int] = {}
        for pos, line, wanted, t_pos, t_type, done in conn.execute(_RETRACTS, p):
            if t_pos is None:
                self.problem(line, "retracts", f"no earlier event {wanted} of {self.enterprise}")
            elif t_type == "retract":
                self.problem(line, "retracts", f"{wanted} is itself a retraction")
            elif done is not None or t_pos in targets:
                self.problem(line, "retracts", f"{wanted} is already retracted")
            else:
                targets[t_pos] = line
                rows.append((pos, t_pos))
        if rows:
            self.app.extend(retractions, rows)
            self.app.flush()


# Own lots drawn by this submission that have no effective creating event before the drawing one.
_MISSING_OWN_LOTS = sa.text(
    """
    SELECT e.line, i.lot, i.idx FROM inputs i JOIN events e ON e.position = i.position
    WHERE i.position > :start AND i.holder = :ent AND e.type <> 'receive'
      AND NOT EXISTS (
        SELECT 1 FROM lots l WHERE l.lot = i.lot AND l.position < i.position
          AND NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = l.position))
    ORDER BY e.line, i.idx
    """
)

# Output lots of this submission that an earlier, still effective event already created.
_NOT_NEW_LOTS = sa.text(
    """
    SELECT e.line, l.lot, l.idx, pe.event_id, prev.position
    FROM lots l JOIN events e ON e.position = l.position
    JOIN lots prev ON prev.lot = l.lot AND prev.position < l.position
    JOIN events pe ON pe.position = prev.position
    WHERE l.position > :start
      AND NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = prev.position)
    ORDER BY e.line, l.idx
    """
)

_RETRACTS = sa.text(
    """
    SELECT r.position, r.line, r.retracts, t.position, t.type,
           (SELECT x.position FROM retractions x WHERE x.target = t.position)
    FROM events r LEFT JOIN events t
      ON t.enterprise = r.enterprise AND t.event_id = r.retracts AND t.position < r.position
    WHERE r.position > :start AND r.type = 'retract'
    ORDER BY r.position
    """
)

# A cycle needs an edge u -> v whose source u is created *after* the edge's event (a forward reference:
# an edge can only enter a lot at its creation, so without such an edge every path runs forward in
# time). Only such "back edges" that this submission adds, or whose source it creates, can close a new
# cycle; walk downstream from each and see whether the walk comes back to its source. The two halves of
# ``back`` are separate so that each starts from this submission's rows by index (an OR across the two
# tables would make the planner read every edge of the store on every submission).
_CYCLES = sa.text(
    """
    WITH RECURSIVE back(position, src, dst) AS (
        SELECT d.position, d.src, d.dst FROM effective_edges d JOIN effective_lots c ON c.lot = d.src
        WHERE d.position > :start AND c.position > d.position
        UNION
        SELECT d.position, d.src, d.dst FROM effective_lots c JOIN effective_edges d ON d.src = c.lot
        WHERE c.position > :start AND d.position < c.position
    ),
    walk(origin, lot) AS (
        SELECT src, dst FROM back
        UNION
        SELECT w.origin, d.dst FROM walk w JOIN effective_edges d ON d.src = w.lot
    )
    SELECT min(e.line), b.src, b.dst FROM back b
    JOIN walk w ON w.origin = b.src AND w.lot = b.src
    JOIN effective_lots c ON c.lot = b.src
    JOIN events e ON e.position = CASE WHEN b.position > :start THEN b.position ELSE c.position END
    GROUP BY b.src, b.dst
    ORDER BY 1
    """
)


def periods_between(first: Period, last: Period) -> list[Period]:
    out = [first]
    while out[-1] != last:
        out.append(out[-1].next())
    return out


__all__ = ["Period", "SubmissionResult", "periods_between", "submit"]
