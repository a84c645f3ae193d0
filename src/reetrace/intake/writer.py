"""The writer of a submission: positions, the chain, derived rows, idempotency, batching.

Records arrive prepared (validated and canonically encoded, see :mod:`reetrace.intake.parser`) and are
appended in batches inside the submission's one transaction. Before each batch the writer looks up which
event ids are already recorded: the same content digest is skipped (idempotency), a different one is a
conflict. Every problem is kept for the report, up to :data:`MAX_PROBLEMS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
import sqlalchemy as sa

from reetrace.errors import Problem
from reetrace.intake.parser import Prepared, Rejected
from reetrace.intake.warnings import RecordWarnings
from reetrace.messages import M_
from reetrace.store.base import Appender
from reetrace.store.derive import document_rows, event_rows
from reetrace.store.schema import documents, edges, events, inputs, lots

#: Problems kept for the report; the rest are counted.
MAX_PROBLEMS = 1000


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
        existing = self._existing({item[1] for item in pending})
        seen: dict[str, int] = {}
        for line, eid, record, dig in pending:
            prior = existing.get(eid)
            if eid in seen:
                self.problem(
                    line, "event_id", M_("{event_id} repeats line {line}", event_id=eid, line=seen[eid])
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
        app.flush(wait=False)  # the next batch is parsed while this one is written

    def _existing(self, ids: set[str]) -> dict[str, tuple[int, int, str]]:
        self.app.join()  # the previous batch must be in before we look for its ids
        if not ids:
            return {}
        sql = self.app.store.sql
        # One list parameter: a 2,000-item IN list costs more to send and parse than to run.
        q = sa.text(
            "SELECT event_id, position, line, digest FROM events "
            f"WHERE enterprise = :ent AND {sql.member('event_id', 'ids')}"
        )
        rows = self.app.conn.execute(q, {"ent": self.enterprise, "ids": sql.array(ids)})
        return {r.event_id: (int(r.position), int(r.line), r.digest) for r in rows}


__all__ = ["MAX_PROBLEMS", "SubmissionWriter"]
