"""Rules across the records of one submission, checked in SQL over the rows it just wrote, before
commit: own lots drawn must exist, output lots must be new, retractions must name a live earlier event
of the same enterprise, and no event may close a cycle in the lot graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.messages import M_
from reetrace.store.schema import retractions

if TYPE_CHECKING:
    from reetrace.intake.writer import SubmissionWriter


def cross_record_checks(w: SubmissionWriter) -> None:
    """Rules across records, in SQL over what this submission wrote; problems go to ``w``."""
    w.app.flush()
    conn = w.app.conn
    p = {"start": w.start, "ent": w.enterprise}
    _retractions(w, conn, p)
    for row in conn.execute(_MISSING_OWN_LOTS, p):
        line, lot, idx = row.line, row.lot, row.idx
        if lot not in w.invalid_outputs:
            w.problem(
                line, f"inputs[{idx}].lot",
                M_("{lot} does not exist: no earlier event of {ent} created it", lot=lot, ent=w.enterprise),
            )  # fmt: skip
    for row in conn.execute(_NOT_NEW_LOTS, p):
        line, lot, idx, prev_id, prev_pos = row.line, row.lot, row.idx, row.prev_id, row.prev_position
        w.problem(
            line, f"outputs[{idx}].lot",
            M_("{lot} already exists (created by event {event_id} at position {position}); "
               "an output lot must be new", lot=lot, event_id=prev_id, position=prev_pos),
        )  # fmt: skip
    # The planner cannot size the recursive walk and picks hash joins that read every edge of the store
    # (0.8 s per submission at 1M edges), or merge joins that sort all of a large submission's rows;
    # index nested loops touch only this submission's neighbourhood (30 ms). Scoped to this one query.
    with w.app.store.sql.index_joins_only(conn):
        for row in conn.execute(_CYCLES, p):
            src, dst = row.src, row.dst
            w.problem(
                row.line,
                "inputs",
                M_(
                    "this event would close a cycle in the lot graph: {dst} already leads to {src}",
                    dst=dst,
                    src=src,
                ),
            )


def _retractions(w: SubmissionWriter, conn: Connection, p: dict[str, Any]) -> None:
    rows = []
    targets: dict[int, int] = {}
    for row in conn.execute(_RETRACTS, p):
        pos, line, wanted, done = row.position, row.line, row.retracts, row.retracted_by
        t_pos, t_type = row.target, row.target_type
        if t_pos is None:
            w.problem(
                line,
                "retracts",
                M_("no earlier event {event_id} of {ent}", event_id=wanted, ent=w.enterprise),
            )
        elif t_type == "retract":
            w.problem(line, "retracts", M_("{event_id} is itself a retraction", event_id=wanted))
        elif done is not None or t_pos in targets:
            w.problem(line, "retracts", M_("{event_id} is already retracted", event_id=wanted))
        else:
            targets[t_pos] = line
            rows.append((pos, t_pos))
    if rows:
        w.app.extend(retractions, rows)
        w.app.flush()


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
    SELECT e.line, l.lot, l.idx, pe.event_id AS prev_id, prev.position AS prev_position
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
    SELECT r.position, r.line, r.retracts, t.position AS target, t.type AS target_type,
           (SELECT x.position FROM retractions x WHERE x.target = t.position) AS retracted_by
    FROM events r LEFT JOIN events t
      ON t.enterprise = r.enterprise AND t.event_id = r.retracts AND t.position < r.position
    WHERE r.position > :start AND r.type = 'retract'
    ORDER BY r.position
    """
)

# A cycle needs an edge u -> v whose source u is created *after* the edge's event (a forward reference:
# an edge can only enter a lot at its creation, so without such an edge every path runs forward in
# time). Only such "back edges" that this submission adds, or whose source it creates, can close a new
# cycle; walk downstream from each and see whether the walk comes back to its source. Both kinds have
# their source created by this submission (an edge of this submission whose source is created later
# is followed by that creation, which is in this submission too), so ``back`` starts from this
# submission's lots, by index, and looks up the edges drawn from each. (A second arm from this
# submission's edges found only rows of the first: 0.3 s of index probes for a 100,000-event file.)
_CYCLES = sa.text(
    """
    WITH RECURSIVE back(position, src, dst) AS (
        SELECT d.position, d.src, d.dst FROM effective_lots c JOIN effective_edges d ON d.src = c.lot
        WHERE c.position > :start AND d.position < c.position
    ),
    walk(origin, lot) AS (
        SELECT src, dst FROM back
        UNION
        SELECT w.origin, d.dst FROM walk w JOIN effective_edges d ON d.src = w.lot
    )
    SELECT min(e.line) AS line, b.src, b.dst FROM back b
    JOIN walk w ON w.origin = b.src AND w.lot = b.src
    JOIN effective_lots c ON c.lot = b.src
    JOIN events e ON e.position = CASE WHEN b.position > :start THEN b.position ELSE c.position END
    GROUP BY b.src, b.dst
    ORDER BY 1
    """
)


__all__ = ["cross_record_checks"]
