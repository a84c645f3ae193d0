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
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson
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
        """The 10th of the following month, 23:59:59 Asia/Shanghai (docs/contract/submissions.md)."""
        nxt = self.end()
        return nxt.replace(day=10, hour=23, minute=59, second=59)


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
        self.total = 0

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> bytes:
        line = self._s.readline()
        if not line:
            raise StopIteration
        self.total += len(line)
        self._p(len(line))
        return line

    def read(self, n: int = -1) -> bytes:
        data = self._s.read(n)
        self.total += len(data)
        self._p(len(data))
        return data

    def readline(self, n: int = -1) -> bytes:
        data = self._s.readline(n)
        self.total += len(data)
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
        rules = _Rules(enterprise, frozenset(own_sites), str(per), per.start(), per.end())
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
                writer = _Writer(app, enterprise, env_pos, start, name)
                items: Iterable[Prepared | Rejected]
                if store.dialect == "postgresql" and "fork" in mp.get_all_start_methods():
                    items = _prepared_in_worker(raw, form, name, rules, progress)
                else:
                    stream: Any = _Counting(raw, progress) if progress else raw
                    items = _prepare(read_events(stream, form, name), rules, name)
                writer.run(items, batch)
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


@dataclass(frozen=True)
class _Rules:
    """The rules about one record that depend on the submission (who reports, which month)."""

    enterprise: str
    own_sites: frozenset[str]
    period: str
    period_start: datetime
    period_end: datetime

    def problems(self, line: int, ev: Event, file: str) -> list[Problem]:
        if ev.enterprise != self.enterprise:
            # Its site and lots would only repeat the same mistake: one problem is enough.
            return [
                Problem(line, "enterprise", f"{ev.enterprise}: this submission is {self.enterprise}'s", file)
            ]
        out = []
        if ev.site is not None and ev.site not in self.own_sites:
            out.append(
                Problem(line, "site", f"{ev.site} is not a registered site of {self.enterprise}", file)
            )
        if not (self.period_start <= ev.occurred_at < self.period_end):
            reason = f"{ev.occurred_at.isoformat()} is outside the period {self.period} (Asia/Shanghai)"
            out.append(Problem(line, "occurred_at", reason, file))
        return out


#: A record ready to append: (line, event_id, canonical record bytes, content digest).
Prepared = tuple[int, str, bytes, str]
#: A record refused on its own: (line, problems, output lots it named).
Rejected = tuple[int, list[Problem], tuple[str, ...]]


def _prepare(records: Iterable[Parsed], rules: _Rules, file: str) -> Iterator[Prepared | Rejected]:
    """Per-record work: validation (done by the reader), the submission's record rules, the canonical
    encoding and its digest. Runs in a parser process on PostgreSQL (see ``_prepared_in_worker``)."""
    for rec in records:
        ev = rec.event
        if ev is None:
            yield (rec.line, rec.problems, rec.outputs_seen)
            continue
        problems = rules.problems(rec.line, ev, file)
        if problems:
            yield (rec.line, problems, ())
            continue
        record = canonical(ev.canonical())
        yield (rec.line, ev.event_id, record, digest(record))


#: Records per message from the parser process.
_CHUNK = 500


def _parse_worker(stream: Any, fmt: Format, file: str, rules: _Rules, send: Any) -> None:
    """The parser process: read, validate, encode; send chunks (with bytes read) down the pipe."""
    counted = _Counting(stream, lambda n: None)
    chunk: list[Prepared | Rejected] = []
    try:
        for item in _prepare(read_events(counted, fmt, file), rules, file):  # type: ignore[arg-type]
            chunk.append(item)
            if len(chunk) >= _CHUNK:
                send.send((counted.total, chunk))
                chunk = []
        send.send((counted.total, chunk))
        send.send(None)
    except BaseException as exc:  # the parent raises it; a traceback here would be lost
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def _prepared_in_worker(
    stream: Any, fmt: Format, file: str, rules: _Rules, progress: Callable[[int], None] | None
) -> Iterator[Prepared | Rejected]:
    """Parse in a forked child so that validation (pydantic) runs on the second core while this process
    assigns positions, links the chain and feeds COPY. Forked before any writer thread exists; the
    child leaves through ``os._exit`` (multiprocessing's fork start), so it never touches the
    inherited database connection."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_parse_worker, args=(stream, fmt, file, rules, send), daemon=True)
    proc.start()
    send.close()
    seen = 0
    try:
        while True:
            try:
                msg = recv.recv()
            except EOFError:
                raise RuntimeError("the parser process ended without finishing") from None
            if msg is None:
                break
            if msg[0] == "error":
                raise RuntimeError(f"the parser process failed: {msg[1]}")
            total, chunk = msg
            if progress is not None:
                progress(total - seen)
            seen = total
            yield from chunk
    finally:
        recv.close()
        if proc.is_alive():
            proc.terminate()
        proc.join()


class _Writer:
    """State of one submission while it streams into the open transaction."""

    def __init__(self, app: Appender, enterprise: str, env_pos: int, start: int, file: str) -> None:
        self.app = app
        self.enterprise = enterprise
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

    def run(self, items: Iterable[Prepared | Rejected], batch: int) -> None:
        pending: list[Prepared] = []
        for item in items:
            if len(item) == 3:
                _line, problems, outputs_seen = item
                for p in problems:
                    self.problem(p.line, p.field, p.reason)
                if len(self.invalid_outputs) < 100_000:
                    self.invalid_outputs.update(outputs_seen)
                continue
            pending.append(item)
            if len(pending) >= batch:
                self._write(pending)
                pending = []
        if pending:
            self._write(pending)

    def _write(self, pending: Sequence[Prepared]) -> None:
        app = self.app
        existing = self._existing({eid for _, eid, _, _ in pending})
        seen: dict[str, int] = {}
        for line, eid, record, dig in pending:
            prior = existing.get(eid)
            if eid in seen:
                self.problem(line, "event_id", f"{eid} repeats line {seen[eid]}")
                continue
            seen[eid] = line
            if prior is not None:
                pos, prior_line, prior_digest = prior
                if pos > self.start:
                    self.problem(line, "event_id", f"{eid} repeats line {prior_line}")
                elif prior_digest == dig:
                    self.unchanged += 1
                else:
                    self.problem(
                        line, "event_id",
                        f"conflict: {eid} is already recorded at position {pos} with "
                        "different content (correct it with a retract and a new event_id)",
                    )  # fmt: skip
                continue
            pos = app.append_event(record, line, self.env_pos)
            ev_row, lot_rows, in_rows, edge_rows = event_rows(
                pos, self.env_pos, line, orjson.loads(record), dig
            )
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


__all__ = ["Period", "SubmissionResult", "submit"]
