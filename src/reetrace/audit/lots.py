"""Rules about single lots: 1 ``overdrawn_lot``, 3 ``unexplained_lot``, 8 ``impossible_time``,
9 ``stock_gain``.

- ``overdrawn_lot``: a lot's outflow — the sum of what effective events other than ``receive`` draw
  from it (``process``, ``ship``, ``export``, ``consume``, ``adjust``, and a toll processor's
  ``process``) — exceeds its mass × (1 + ``overdraw``) [0.5%]. A ``receive`` input is the custody twin
  of the sender's ``ship``, not a second draw. The finding's period is the period of the draw that
  crossed the limit; severity high.
- ``unexplained_lot``: an effective event draws, ships or receives a lot that no effective event
  created, and the deadline of that event's period has passed at ``as_of`` (the creator may still report
  until then). One finding per lot and referencing enterprise; severity high.
- ``impossible_time``: an effective event draws a lot before the lot's creating event occurred (more
  than ``time_skew_s`` earlier; severity high), or an event occurred after its submission was received
  (reported from the future; severity medium).
- ``stock_gain``: every effective ``adjust`` with outputs; severity medium.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Finding
from reetrace.audit.scope import Scope, event_lots, made_from, to_datetime


def overdrawn_lot(conn: Connection, scope: Scope) -> list[Finding]:
    focus = scope.focus(lots=["i.lot"])
    sql = f"""
    WITH drawn AS (
        SELECT i.lot, sum(i.mass_kg) AS kg
        FROM effective_inputs i JOIN events e ON e.position = i.position
        WHERE e.type <> 'receive' {focus}
        GROUP BY i.lot
    ),
    over AS (
        SELECT d.lot, d.kg, l.enterprise, l.mass_kg, l.reo_kg, l.position AS created
        FROM drawn d JOIN effective_lots l ON l.lot = d.lot
        WHERE d.kg > l.mass_kg * (1 + :tol) {scope.ent("l.enterprise")}
    )
    SELECT o.lot, o.enterprise, o.mass_kg, o.reo_kg, o.kg, o.created, i.position, i.mass_kg, s.period
    FROM over o JOIN effective_inputs i ON i.lot = o.lot
    JOIN events e ON e.position = i.position JOIN submissions s ON s.position = e.submission
    WHERE e.type <> 'receive'
    ORDER BY o.lot, i.position
    """
    tol = scope.tol.overdraw
    by_lot: dict[str, list[Any]] = {}
    for row in conn.execute(sa.text(sql), scope.params(tol=tol)):
        by_lot.setdefault(row[0], []).append(row)
    findings = []
    for lot, rows in by_lot.items():
        _, ent, mass, reo, drawn, created = rows[0][:6]
        limit = mass * (1 + tol)
        total, crossed = 0.0, rows[-1][8]
        for r in rows:
            total += r[7]
            if total > limit:
                crossed = r[8]
                break
        if not scope.in_range(crossed):
            continue
        excess = drawn - mass
        findings.append(
            Finding(
                rule="overdrawn_lot",
                severity="high",
                enterprise=ent,
                summary=f"{lot}: {drawn:.1f} kg drawn from a lot of {mass:.1f} kg "
                f"(+{excess / mass * 100:.2f}%)",
                lots=(lot,),
                events=(created, *sorted({int(r[6]) for r in rows})),
                period=crossed,
                detail={
                    "mass_kg": mass,
                    "drawn_kg": round(drawn, 3),
                    "excess_kg": round(excess, 3),
                    "excess_pct": round(excess / mass * 100, 3),
                    "excess_reo_kg": round(excess * reo / mass, 3),
                    "draws": [{"position": int(r[6]), "mass_kg": r[7], "period": r[8]} for r in rows],
                    "tolerance_pct": tol * 100,
                },
            )
        )
    return findings


def unexplained_lot(conn: Connection, scope: Scope) -> list[Finding]:
    sql = f"""
    SELECT i.lot, i.holder, e.enterprise, i.position, s.period, i.mass_kg, e.type
    FROM effective_inputs i JOIN events e ON e.position = i.position
    JOIN submissions s ON s.position = e.submission
    WHERE s.period <= :closed
      AND NOT EXISTS (SELECT 1 FROM effective_lots l WHERE l.lot = i.lot)
      {scope.period("s.period")} {scope.ent("e.enterprise", "i.holder")}
      {scope.focus(lots=["i.lot"])}
    ORDER BY i.lot, e.enterprise, i.position
    """
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in conn.execute(sa.text(sql), scope.params()):
        groups.setdefault((row[0], row[2]), []).append(row)
    outputs = made_from(conn, scope, (int(r[3]) for rows in groups.values() for r in rows))
    findings = []
    for (lot, ent), rows in groups.items():
        positions = sorted({int(r[3]) for r in rows})
        # What was made from this lot (its edges): a receive's paired outputs, a process's outputs.
        made = sorted({x for p in positions for x in outputs.get((p, lot), [])})
        kg = sum(r[5] for r in rows)
        findings.append(
            Finding(
                rule="unexplained_lot",
                severity="high",
                enterprise=ent,
                summary=f"{lot} has no creating event, yet {ent} drew {kg:.1f} kg of it "
                f"({', '.join(sorted({r[6] for r in rows}))})",
                lots=(lot, *made),
                events=tuple(positions),
                period=min(r[4] for r in rows),
                detail={
                    "lot": lot,
                    "holder": rows[0][1],
                    "referenced_by": ent,
                    "drawn_kg": round(kg, 3),
                    "deadline_passed_for": scope.closed,
                },
            )
        )
    return findings


def impossible_time(conn: Connection, scope: Scope) -> list[Finding]:
    early = f"""
    SELECT i.position, i.lot, e.enterprise, e.occurred_at, c.occurred_at, l.position, s.period
    FROM effective_inputs i JOIN events e ON e.position = i.position
    JOIN effective_lots l ON l.lot = i.lot JOIN events c ON c.position = l.position
    JOIN submissions s ON s.position = e.submission
    WHERE e.occurred_at < c.occurred_at
      {scope.period("s.period")} {scope.ent("e.enterprise")}
      {scope.focus(lots=["i.lot"])}
    ORDER BY i.position, i.lot
    """
    findings = []
    for pos, lot, ent, used, made, created, period in conn.execute(sa.text(early), scope.params()):
        used_at, made_at = to_datetime(used), to_datetime(made)
        gap = (made_at - used_at).total_seconds()
        if gap <= scope.tol.time_skew_s:
            continue
        findings.append(
            Finding(
                rule="impossible_time",
                severity="high",
                enterprise=ent,
                summary=f"{lot} used at {used_at.isoformat()}, {gap / 3600:.1f} h before it was "
                f"created at {made_at.isoformat()}",
                lots=(lot,),
                events=(int(pos), int(created)),
                period=period,
                detail={
                    "kind": "used_before_created",
                    "used_at": used_at.isoformat(),
                    "created_at": made_at.isoformat(),
                    "seconds_early": gap,
                },
            )
        )
    future = f"""
    SELECT e.position, e.enterprise, e.occurred_at, s.received_at, s.period
    FROM effective_events e JOIN submissions s ON s.position = e.submission
    WHERE e.occurred_at > s.received_at
      {scope.period("s.period")} {scope.ent("e.enterprise")} {scope.focus(positions=["e.position"])}
    ORDER BY e.position
    """
    rows = conn.execute(sa.text(future), scope.params()).all()
    lots = event_lots(conn, scope, (int(r[0]) for r in rows))
    for pos, ent, occurred, received, period in rows:
        occ, rec = to_datetime(occurred), to_datetime(received)
        findings.append(
            Finding(
                rule="impossible_time",
                severity="medium",
                enterprise=ent,
                summary=f"event dated {occ.isoformat()} was reported earlier, at {rec.isoformat()}",
                lots=tuple(lots.get(int(pos), [])),
                events=(int(pos),),
                period=period,
                detail={
                    "kind": "event_in_future",
                    "occurred_at": occ.isoformat(),
                    "received_at": rec.isoformat(),
                },
            )
        )
    return findings


def stock_gain(conn: Connection, scope: Scope) -> list[Finding]:
    sql = f"""
    SELECT e.position, e.enterprise, s.period, l.lot, l.mass_kg, l.reo_kg
    FROM effective_events e JOIN submissions s ON s.position = e.submission
    JOIN lots l ON l.position = e.position
    WHERE e.type = 'adjust'
      {scope.period("s.period")} {scope.ent("e.enterprise")}
      {scope.focus(positions=["e.position"])}
    ORDER BY e.position, l.idx
    """
    events: dict[int, list[Any]] = {}
    for row in conn.execute(sa.text(sql), scope.params()):
        events.setdefault(int(row[0]), []).append(row)
    findings = []
    for pos, rows in events.items():
        kg, reo = sum(r[4] for r in rows), sum(r[5] for r in rows)
        findings.append(
            Finding(
                rule="stock_gain",
                severity="medium",
                enterprise=rows[0][1],
                summary=f"stock-take adds {kg:.1f} kg ({reo:.1f} kg REO) from nowhere",
                lots=tuple(r[3] for r in rows),
                events=(pos,),
                period=rows[0][2],
                detail={"gain_kg": round(kg, 3), "gain_reo_kg": round(reo, 3)},
            )
        )
    return findings
