"""Rules about single lots: 1 ``overdrawn_lot``, 3 ``unexplained_lot``, 8 ``impossible_time``,
9 ``stock_gain``.

- ``overdrawn_lot``: a lot's outflow — the sum of what effective events other than ``receive`` draw
  from it (``process``, ``ship``, ``export``, ``consume``, ``adjust``, and a toll processor's
  ``process``) — exceeds its mass × (1 + ``overdraw``) [0.5%]. A ``receive`` input is the custody twin
  of the sender's ``ship``, not a second draw. The finding's period is the period of the draw that
  crossed the limit, and it names the enterprise whose draw crossed it (the lot's owner, or a toll
  processor drawing the owner's lot); severity high.
- ``unexplained_lot``: an effective event draws, ships or receives a lot that no effective event
  created, and the deadline of that event's period has passed at ``as_of`` (the creator may still report
  until then). One finding per lot and blamed enterprise; severity high. The blamed enterprise is the
  one whose record breaks the rule: the one that retracted the lot's creating event if there was one
  (its retraction made the lot unexplained), else the referencing enterprise.
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
from reetrace.messages import M_, Instant, words


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
        WHERE d.kg > l.mass_kg * (1 + :tol)
    )
    SELECT o.lot, o.enterprise, o.mass_kg, o.reo_kg, o.kg AS drawn_kg, o.created,
           i.position AS draw, i.mass_kg AS draw_kg, s.period, e.enterprise AS drawer
    FROM over o JOIN effective_inputs i ON i.lot = o.lot
    JOIN events e ON e.position = i.position JOIN submissions s ON s.position = e.submission
    WHERE e.type <> 'receive'
    ORDER BY o.lot, i.position
    """
    tol = scope.tol.overdraw
    by_lot: dict[str, list[Any]] = {}
    for row in conn.execute(sa.text(sql), scope.params(tol=tol)):
        by_lot.setdefault(row.lot, []).append(row)
    findings = []
    for lot, rows in by_lot.items():
        first = rows[0]
        ent, mass, reo, drawn, created = (
            first.enterprise, first.mass_kg, first.reo_kg, first.drawn_kg, first.created
        )  # fmt: skip
        limit = mass * (1 + tol)
        total, crossed, drawer = 0.0, rows[-1].period, rows[-1].drawer
        for r in rows:
            total += r.draw_kg
            if total > limit:
                crossed, drawer = r.period, r.drawer
                break
        # Blame the enterprise whose draw crossed the limit: the owner's own draws, or a toll
        # processor's that drew more of the owner's lot than was left.
        if not scope.in_range(crossed) or not scope.ent_ok(drawer, ent):
            continue
        excess = drawn - mass
        findings.append(
            Finding(
                rule="overdrawn_lot",
                severity="high",
                enterprise=drawer,
                summary=M_(
                    "{lot}: {drawn:.1f} kg drawn from a lot of {mass:.1f} kg (+{excess_pct:.2f}%)",
                    lot=lot,
                    drawn=drawn,
                    mass=mass,
                    excess_pct=excess / mass * 100,
                ),
                lots=(lot,),
                events=(created, *sorted({int(r.draw) for r in rows})),
                period=crossed,
                detail={
                    "mass_kg": mass,
                    "drawn_kg": round(drawn, 3),
                    "excess_kg": round(excess, 3),
                    "excess_pct": round(excess / mass * 100, 3),
                    "excess_reo_kg": round(excess * reo / mass, 3),
                    "draws": [
                        {"position": int(r.draw), "mass_kg": r.draw_kg, "period": r.period} for r in rows
                    ],
                    "tolerance_pct": tol * 100,
                    "owner": ent,
                    "crossed_by": drawer,
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
    rows_ = conn.execute(sa.text(sql), scope.params()).all()
    # A lot whose creating event its enterprise retracted is unexplained because of the retraction:
    # blame the retracting enterprise, not whoever drew or received the lot in good faith.
    retracted = _retracted_creators(conn, scope, {r.lot for r in rows_})
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in rows_:
        blamed = retracted[row.lot][0] if row.lot in retracted else row.enterprise
        groups.setdefault((row.lot, blamed), []).append(row)
    outputs = made_from(conn, scope, (int(r.position) for rows in groups.values() for r in rows))
    findings = []
    for (lot, ent), rows in groups.items():
        positions = sorted({int(r.position) for r in rows})
        retraction = retracted.get(lot)
        # What was made from this lot (its edges): a receive's paired outputs, a process's outputs.
        made = sorted({x for p in positions for x in outputs.get((p, lot), [])})
        kg = sum(r.mass_kg for r in rows)
        types = words(sorted({r.type for r in rows}))
        findings.append(
            Finding(
                rule="unexplained_lot",
                severity="high",
                enterprise=ent,
                summary=(
                    M_(
                        "{ent} retracted the event that created {lot} (position {position}), yet "
                        "{drawers} drew {kg:.1f} kg of it ({types})",
                        ent=ent,
                        lot=lot,
                        position=retraction[1],
                        kg=kg,
                        types=types,
                        drawers=", ".join(sorted({r.enterprise for r in rows})),
                    )
                    if retraction
                    else M_(
                        "{lot} has no creating event, yet {ent} drew {kg:.1f} kg of it ({types})",
                        lot=lot,
                        ent=ent,
                        kg=kg,
                        types=types,
                    )
                ),
                lots=(lot, *made),
                events=tuple(sorted({*positions, *((retraction[1],) if retraction else ())})),
                period=min(r.period for r in rows),
                detail={
                    "lot": lot,
                    "holder": rows[0].holder,
                    "referenced_by": ", ".join(sorted({r.enterprise for r in rows})),
                    **({"retracted_by": ent, "retraction": retraction[1]} if retraction else {}),
                    "drawn_kg": round(kg, 3),
                    "deadline_passed_for": scope.closed,
                },
            )
        )
    return findings


def _retracted_creators(conn: Connection, scope: Scope, lots: set[str]) -> dict[str, tuple[str, int]]:
    """lot -> (enterprise, position) of the latest retraction of an event that created it."""
    if not lots:
        return {}
    sql = f"""
    SELECT l.lot, r.enterprise, r.position FROM lots l
    JOIN retractions x ON x.target = l.position JOIN events r ON r.position = x.position
    WHERE {scope.sql.member("l.lot", "ls")}
    ORDER BY r.position
    """
    out: dict[str, tuple[str, int]] = {}
    for lot, ent, pos in conn.execute(sa.text(sql), {"ls": scope.sql.array(sorted(lots))}):
        out[lot] = (ent, int(pos))
    return out


def impossible_time(conn: Connection, scope: Scope) -> list[Finding]:
    early = f"""
    SELECT i.position, i.lot, e.enterprise, e.occurred_at AS used_at, c.occurred_at AS made_at,
           l.position AS created, s.period
    FROM effective_inputs i JOIN events e ON e.position = i.position
    JOIN effective_lots l ON l.lot = i.lot JOIN events c ON c.position = l.position
    JOIN submissions s ON s.position = e.submission
    WHERE e.occurred_at < c.occurred_at
      {scope.period("s.period")} {scope.ent("e.enterprise")}
      {scope.focus(lots=["i.lot"])}
    ORDER BY i.position, i.lot
    """
    findings = []
    for r in conn.execute(sa.text(early), scope.params()):
        pos, lot, ent, created, period = r.position, r.lot, r.enterprise, r.created, r.period
        used, made = r.used_at, r.made_at
        used_at, made_at = to_datetime(used), to_datetime(made)
        gap = (made_at - used_at).total_seconds()
        if gap <= scope.tol.time_skew_s:
            continue
        findings.append(
            Finding(
                rule="impossible_time",
                severity="high",
                enterprise=ent,
                summary=M_(
                    "{lot} used at {used_at}, {hours:.1f} h before it was created at {made_at}",
                    lot=lot,
                    used_at=Instant(used_at),
                    hours=gap / 3600,
                    made_at=Instant(made_at),
                ),
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
    lots = event_lots(conn, scope, (int(r.position) for r in rows))
    for r in rows:
        pos, ent, period = r.position, r.enterprise, r.period
        occurred, received = r.occurred_at, r.received_at
        occ, rec = to_datetime(occurred), to_datetime(received)
        findings.append(
            Finding(
                rule="impossible_time",
                severity="medium",
                enterprise=ent,
                summary=M_(
                    "event dated {occurred_at} was reported earlier, at {received_at}",
                    occurred_at=Instant(occ),
                    received_at=Instant(rec),
                ),
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
        events.setdefault(int(row.position), []).append(row)
    findings = []
    for pos, rows in events.items():
        kg, reo = sum(r.mass_kg for r in rows), sum(r.reo_kg for r in rows)
        findings.append(
            Finding(
                rule="stock_gain",
                severity="medium",
                enterprise=rows[0].enterprise,
                summary=M_("stock-take adds {kg:.1f} kg ({reo:.1f} kg REO) from nowhere", kg=kg, reo=reo),
                lots=tuple(r.lot for r in rows),
                events=(pos,),
                period=rows[0].period,
                detail={"gain_kg": round(kg, 3), "gain_reo_kg": round(reo, 3)},
            )
        )
    return findings
