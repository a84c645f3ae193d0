"""The writer of a submission: positions, the chain, derived rows, idempotency, batching.

Records arrive prepared (validated and canonically encoded, see :mod:`reetrace.intake.parser`) and are
appended in batches inside the submission's one transaction. Before each batch the writer looks up which
event ids are already recorded: the same content digest is skipped (idempotency), a different one is a
conflict. Every problem is kept for the report, up to :data:`MAX_PROBLEMS`.

The batches are pipelined: batch *k*'s ids are looked up once batch *k - 2* is in the database, then
batch *k - 1* goes to the database in the background while batch *k*'s rows are built. The one batch
that is neither in the database nor built yet when batch *k* is checked, *k - 1*, has its ids in hand
(:attr:`SubmissionWriter._recent`), so a repeat across the two is found as surely as one the look-up
returns. Looking up after each batch was in (one batch at a time) left the database idle while every
batch was built: a third of the time of a large submission.

Where writes go in the background (PostgreSQL), the look-up leaves the write connection altogether
while the submission's ids fit in memory (:data:`MAX_HELD_IDS`): the ids it wrote are held in hand,
and each batch's ids are looked up in what was recorded *before* the submission on a second, read-only
connection, while the write connection goes on sending. Everything before the submission is committed
(the writer holds the write lock), so that connection sees all of it. Past the bound, the look-up goes
back to the write connection as above.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import Problem
from reetrace.intake.parser import Prepared, Rejected
from reetrace.intake.warnings import RecordWarnings
from reetrace.messages import M_
from reetrace.store.base import Appender
from reetrace.store.derive import document_rows, event_rows
from reetrace.store.dialect import Dialect
from reetrace.store.schema import documents, edges, events, inputs, lots

#: Problems kept for the report; the rest are counted.
MAX_PROBLEMS = 1000
#: Event ids of one submission held in memory for finding repeats (about 100 bytes each); a larger
#: submission looks them up in the database instead (see the module's note).
MAX_HELD_IDS = 250_000


class SubmissionWriter:
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
        #: Per-record warnings (see :mod:`reetrace.intake.warnings`), when the submitter wants them.
        self.warn: RecordWarnings | None = None
        #: Event ids of the batch built last (event id -> line): buffered, not yet in the database, so
        #: not seen by the next batch's look-up.
        self._recent: dict[str, int] = {}
        #: Every event id this submission wrote (event id -> line) while there are at most
        #: MAX_HELD_IDS, with a read-only connection to look up what was recorded before it; None:
        #: look up on the write connection.
        self._held: dict[str, int] | None = None
        self._before: Connection | None = None

    def problem(self, line: int, fld: str, reason: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(line, fld, reason, self.file))
        else:
            self.more += 1

    def run(self, items: Iterable[Prepared | Rejected], batch: int) -> None:
        if self.app.store.background_writes:
            self._held = {}
        pending: list[Prepared] = []
        try:
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
        finally:
            if self._before is not None:
                self._before.close()
                self._before = None

    def _write(self, pending: Sequence[Prepared]) -> None:
        app = self.app
        ids = {item[1] for item in pending}
        if self._held is not None:
            # What was recorded before the submission, read on the side while the batch before last is
            # still going in (the first batch, with nothing going in, on the write connection: a
            # submission of one batch needs no second connection); repeats within it are in hand.
            conn = self._side() if app.sending else app.conn
            existing = self._look_up(conn, ids)
            app.flush(wait=False)
            recent = self._held
        else:
            # Waits for the batch before last, then looks this batch's ids up in all written so far.
            existing = self._existing(ids)
            # The last batch goes in while this one is built (the caller's final flush writes it).
            app.flush(wait=False)
            recent = self._recent
        seen: dict[str, int] = {}
        written: dict[str, int] = {}
        for line, eid, record, dig in pending:
            prior = existing.get(eid)
            # ``recent`` holds only what the last batch wrote, so that it answers as the look-up would
            # once that batch is in (an id recorded before this submission is unchanged or a conflict
            # wherever it repeats, as before the writes were pipelined).
            earlier = seen.get(eid) or recent.get(eid)
            if earlier is not None:
                self.problem(
                    line, "event_id", M_("{event_id} repeats line {line}", event_id=eid, line=earlier)
                )
                continue
            seen[eid] = line
            if prior is not None:
                pos, prior_line, prior_digest = prior
                if pos > self.start:
                    self.problem(
                        line, "event_id", M_("{event_id} repeats line {line}", event_id=eid, line=prior_line)
                    )
                elif prior_digest == dig:
                    self.unchanged += 1
                else:
                    self.problem(
                        line, "event_id",
                        M_("conflict: {event_id} is already recorded at position {position} with "
                           "different content (correct it with a retract and a new event_id)",
                           event_id=eid, position=pos),
                    )  # fmt: skip
                continue
            written[eid] = line
            pos = app.append_event(record, line, self.env_pos)
            rec = orjson.loads(record)
            ev_row, lot_rows, in_rows, edge_rows = event_rows(pos, self.env_pos, line, rec, dig)
            if self.warn is not None:
                self.warn.record(line, rec, lot_rows, in_rows)
            app.add(events, ev_row)
            app.extend(lots, lot_rows)
            app.extend(inputs, in_rows)
            app.extend(edges, edge_rows)
            app.extend(documents, document_rows(pos, rec))
            self.new += 1
            self.lines += len(lot_rows) + len(in_rows)
        self._recent = written
        if self._held is not None:
            self._held.update(written)
            if len(self._held) > MAX_HELD_IDS:
                # From the next batch on, repeats are looked up on the write connection (which by
                # then holds all but the last batch: that one is ``_recent``).
                self._held = None

    def _existing(self, ids: set[str]) -> dict[str, tuple[int, int, str]]:
        self.app.join()  # the batch before last must be in before we look for its ids
        return self._look_up(self.app.conn, ids)

    def _side(self) -> Connection:
        if self._before is None:
            # Autocommit: each look-up sees all that is committed, and no snapshot is held open.
            self._before = self.app.store.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._before

    def _look_up(self, conn: Connection, ids: set[str]) -> dict[str, tuple[int, int, str]]:
        if not ids:
            return {}
        sql = self.app.store.sql
        q = lookup_query(sql)
        rows = conn.execute(q, {"ent": self.enterprise, "ids": sql.array(ids)})
        return {r.event_id: (int(r.position), int(r.line), r.digest) for r in rows}


def lookup_query(sql: Dialect) -> sa.TextClause:
    """The events of ``:ent`` whose ids are in the list ``:ids``: (event_id, position, line, digest)."""
    # One list parameter: a 2,000-item IN list costs more to send and parse than to run. Joined, not
    # filtered by membership: PostgreSQL reuses a generic plan after five runs, and the one it made
    # for ``event_id = ANY(:ids)`` read every event of the enterprise and compared each with every id
    # (3.6 s per batch by 50,000 events); a join looks each id up in (enterprise, event_id). CROSS
    # JOIN: SQLite then keeps the ids as the outer loop (as an inner join it walked the enterprise's
    # events and scanned the ids for each, 1 s per batch by 20,000 events); PostgreSQL plans it as
    # any inner join.
    return sa.text(
        "SELECT e.event_id, e.position, e.line, e.digest "
        f"FROM (SELECT value FROM {sql.values('ids')}) k CROSS JOIN events e "
        "WHERE e.enterprise = :ent AND e.event_id = k.value"
    )


__all__ = ["MAX_HELD_IDS", "MAX_PROBLEMS", "SubmissionWriter", "lookup_query"]
