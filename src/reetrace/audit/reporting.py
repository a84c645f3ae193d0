"""Rule 7, ``reporting``, and the submission status of a period (``reetrace submissions status``).

An enterprise is *active* in a year when it has at least one submission (an event can only arrive in
one) for a period of that year; the registry has no "active" flag, and a registered enterprise that
never reported is not asked for reports. An active enterprise owes one submission (an empty file is a
valid nil report) for every period of that year inside the audit's range. Without ``--from``/``--to`` the
range is the first to the last period any submission in the store is for. Findings:

- ``missing`` (high): no submission for an owed period whose deadline has passed at ``as_of``;
- ``late`` (medium): the first submission for the period arrived after its deadline;
- ``late_supplement`` (low): a later submission for an already reported period, received after the
  deadline, that added events;
- ``late_retraction`` (medium): a retract event received after the deadline of the period of the event
  it withdraws (the period is the withdrawn event's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Finding
from reetrace.audit.scope import Scope, event_lots, to_datetime
from reetrace.messages import M_, Instant, Message
from reetrace.periods import Period, shift
from reetrace.store.schema import submissions


#: Appended to a finding's summary when the receipt time was stated by a historical load, not the clock.
def _given(given: Any) -> Message | str:
    """The note after a lateness whose receipt time was stated by a historical load (else nothing)."""
    return M_(" (receipt time given by a historical load)") if given else ""


def store_periods(conn: Connection) -> tuple[str | None, str | None]:
    period = submissions.c.period
    q = sa.select(sa.func.min(period).label("first"), sa.func.max(period).label("last"))
    row = conn.execute(q).first()
    return (row.first, row.last) if row else (None, None)


def _periods(first: str, last: str) -> list[str]:
    out = [first]
    while out[-1] < last:
        out.append(shift(out[-1], 1))
    return out


def reporting(conn: Connection, scope: Scope) -> list[Finding]:
    lo, hi = store_periods(conn)
    if lo is None or hi is None:
        return []
    first = max(lo, scope.period_from) if scope.period_from else lo
    last = min(hi, scope.period_to) if scope.period_to else hi
    due = [p for p in _periods(first, last) if p <= scope.closed] if first <= last else []
    findings = []
    if due:
        missing = f"""
        WITH active AS (
            SELECT DISTINCT enterprise, substr(period, 1, 4) AS yr FROM submissions
        ), owed AS (
            SELECT a.enterprise, p.value AS period
            FROM active a JOIN (SELECT value FROM {scope.sql.values("due")}) p
              ON substr(p.value, 1, 4) = a.yr
        )
        SELECT o.enterprise, o.period FROM owed o
        WHERE NOT EXISTS (SELECT 1 FROM submissions s
                          WHERE s.enterprise = o.enterprise AND s.period = o.period)
          {scope.ent("o.enterprise")}
        ORDER BY 1, 2
        """
        for row in conn.execute(sa.text(missing), scope.params(due=scope.sql.array(due))):
            ent, period = row.enterprise, row.period
            deadline = Period.parse(period).deadline()
            findings.append(
                Finding(
                    rule="reporting",
                    severity="high",
                    enterprise=ent,
                    summary=M_(
                        "{ent} has not reported {period} (due {deadline})",
                        ent=ent,
                        period=period,
                        deadline=Instant(deadline),
                    ),
                    period=period,
                    detail={"kind": "missing", "deadline": deadline.isoformat()},
                )
            )
    late = f"""
    SELECT s.position, s.enterprise, s.period, s.received_at, s.deadline, s.received_at_given,
           CASE WHEN EXISTS (SELECT 1 FROM submissions f WHERE f.enterprise = s.enterprise
                             AND f.period = s.period AND f.position < s.position)
                THEN 1 ELSE 0 END AS supplement
    FROM submissions s
    WHERE s.late {scope.period("s.period")} {scope.ent("s.enterprise")}
    ORDER BY s.position
    """
    has_events = """SELECT 1 FROM events WHERE submission = :p LIMIT 1"""
    for row in conn.execute(sa.text(late), scope.params()):
        pos, ent, period, supplement = row.position, row.enterprise, row.period, row.supplement
        received, deadline, given = row.received_at, row.deadline, row.received_at_given
        if supplement and conn.execute(sa.text(has_events), {"p": pos}).first() is None:
            continue
        rec, dl = to_datetime(received), to_datetime(deadline)
        kind = "late_supplement" if supplement else "late"
        findings.append(
            Finding(
                rule="reporting",
                severity="low" if supplement else "medium",
                enterprise=ent,
                summary=(
                    M_(
                        "{ent} {period}: supplement received {delay} after the deadline{given}",
                        ent=ent,
                        period=period,
                        delay=_days(rec, dl),
                        given=_given(given),
                    )
                    if supplement
                    else M_(
                        "{ent} {period}: received {delay} after the deadline{given}",
                        ent=ent,
                        period=period,
                        delay=_days(rec, dl),
                        given=_given(given),
                    )
                ),
                period=period,
                detail={
                    "kind": kind,
                    "submission": int(pos),
                    "received_at": rec.isoformat(),
                    "received_at_given": bool(given),
                    "deadline": dl.isoformat(),
                },
            )
        )
    findings += _late_retractions(conn, scope)
    return findings


def _days(later: datetime, earlier: datetime) -> Message:
    days = (later - earlier).total_seconds() / 86400
    return M_("{days:.1f} days", days=days) if days >= 1 else M_("{hours:.1f} hours", hours=days * 24)


def _late_retractions(conn: Connection, scope: Scope) -> list[Finding]:
    sql = f"""
    SELECT r.position AS retract, t.position AS target, r.enterprise, t.event_id, ts.period, rs.received_at,
           ts.deadline, rs.received_at_given AS given
    FROM retractions x JOIN events r ON r.position = x.position
    JOIN events t ON t.position = x.target
    JOIN submissions rs ON rs.position = r.submission JOIN submissions ts ON ts.position = t.submission
    WHERE rs.received_at > ts.deadline
      {scope.period("ts.period")} {scope.ent("r.enterprise")}
      {scope.focus(positions=["r.position", "t.position"])}
    ORDER BY r.position
    """
    rows = conn.execute(sa.text(sql), scope.params()).all()
    lots = event_lots(conn, scope, (int(r.target) for r in rows))
    findings = []
    for r in rows:
        rpos, tpos, ent, target_id, period = r.retract, r.target, r.enterprise, r.event_id, r.period
        received, deadline, given = r.received_at, r.deadline, r.given
        rec, dl = to_datetime(received), to_datetime(deadline)
        findings.append(
            Finding(
                rule="reporting",
                severity="medium",
                enterprise=ent,
                summary=M_(
                    "{ent} retracted {event_id} ({period}) {delay} after the period's deadline{given}",
                    ent=ent,
                    event_id=target_id,
                    period=period,
                    delay=_days(rec, dl),
                    given=_given(given),
                ),
                lots=tuple(lots.get(int(tpos), [])),
                events=(int(rpos), int(tpos)),
                period=period,
                detail={
                    "kind": "late_retraction",
                    "retracted_event": target_id,
                    "received_at": rec.isoformat(),
                    "received_at_given": bool(given),
                    "deadline": dl.isoformat(),
                },
            )
        )
    return findings


@dataclass(frozen=True)
class SubmissionStatus:
    enterprise: str
    name: str | None
    period: str
    #: ``on_time``, ``late``, ``missing`` (deadline passed, nothing received) or ``not_due``.
    status: str
    active: bool
    deadline: str
    received_at: str | None
    submissions: int
    #: The first submission's receipt time was stated by a historical load (None: nothing received).
    received_at_given: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def submission_status(conn: Connection, period: str, as_of: datetime) -> list[SubmissionStatus]:
    """Who reported ``period`` on time, late or not at all: every registered enterprise and every
    submitter. ``active`` says whether the enterprise owes the report (see the module docstring)."""
    p = Period.parse(period)
    deadline = p.deadline()
    sql = """
    WITH who AS (SELECT code FROM current_enterprises UNION SELECT enterprise FROM submissions)
    SELECT w.code, ce.name,
           (SELECT min(s.received_at) FROM submissions s
             WHERE s.enterprise = w.code AND s.period = :period) AS first,
           (SELECT s.received_at_given FROM submissions s
             WHERE s.enterprise = w.code AND s.period = :period
             ORDER BY s.received_at, s.position LIMIT 1) AS given,
           (SELECT count(*) FROM submissions s
             WHERE s.enterprise = w.code AND s.period = :period) AS n,
           EXISTS (SELECT 1 FROM submissions s WHERE s.enterprise = w.code
                   AND substr(s.period, 1, 4) = :year) AS active
    FROM who w LEFT JOIN current_enterprises ce ON ce.code = w.code
    ORDER BY w.code
    """
    out = []
    for row in conn.execute(sa.text(sql), {"period": str(p), "year": f"{p.year:04d}"}):
        code, name, first, given, n, active = row.code, row.name, row.first, row.given, row.n, row.active
        received = to_datetime(first) if first is not None else None
        if received is not None:
            status = "late" if received > deadline else "on_time"
        else:
            status = "missing" if as_of > deadline else "not_due"
        out.append(
            SubmissionStatus(
                code,
                name,
                str(p),
                status,
                bool(active),
                deadline.isoformat(),
                received.isoformat() if received else None,
                int(n),
                bool(given) if first is not None else None,
            )
        )
    return out
