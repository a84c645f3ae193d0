"""Rule 4, ``unmatched_custody``: the two sides of a custody transfer disagree.

A's ``ship`` of ``A:L`` to B and B's ``receive`` of ``A:L`` from A are matched on (sender, receiver,
lot): all effective ship lines of one key against all effective receive lines of it, so a lot sent in
two consignments and received in two matches as a whole. A finding's enterprise is the reporter of
the record that lacks its twin or disagrees with it (the sender for a lonely ship, the receiver
otherwise); both parties are in its detail. Findings (severity medium):

- ``ship_without_receive``: no receive, once the deadline of the period ``custody_grace_periods`` [1]
  after the ship's period has passed at ``as_of`` (what is shipped on the 31st is received, and reported,
  in the next month);
- ``receive_without_ship``: no ship, once the deadline of the receive's period has passed;
- ``quantity``: received and shipped kg differ by more than ``custody_qty`` [1%] of the larger, once
  both sides' deadlines (as above) have passed;
- ``documents``: a ship line for which no receive line of its key carries compatible documents
  (documents are compatible when no document type, e.g. ``waybill``, appears on both with different
  numbers; a side without documents is compatible with anything). Documents live only in the log
  bodies, so they are read from ``log.body`` of custody events, as canonical text in the same pass as
  the quantities; only keys whose texts differ are compared type by type.

Transfers with a counterparty that is not in the registry are not matched here: the unregistered side
cannot report, so its twin can never exist; ``unauthorised_actor`` reports them instead.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Finding
from reetrace.audit.scope import Scope, made_from
from reetrace.messages import M_
from reetrace.periods import shift

_LINES = """
    lines AS (
        SELECT e.enterprise AS sender, e.counterparty AS receiver, i.lot, i.mass_kg AS ship_kg,
               0.0 AS recv_kg, e.position, s.period, 1 AS is_ship, {docs} AS docs
        FROM effective_inputs i JOIN events e ON e.position = i.position
        JOIN submissions s ON s.position = e.submission JOIN log g ON g.position = e.position
        WHERE e.type = 'ship' AND e.counterparty IN (SELECT code FROM enterprises) {focus}
        UNION ALL
        SELECT e.counterparty, e.enterprise, i.lot, 0.0, i.mass_kg, e.position, s.period, 0, {docs}
        FROM effective_inputs i JOIN events e ON e.position = i.position
        JOIN submissions s ON s.position = e.submission JOIN log g ON g.position = e.position
        WHERE e.type = 'receive' AND e.counterparty IN (SELECT code FROM enterprises) {focus}
    )"""


def unmatched_custody(conn: Connection, scope: Scope) -> list[Finding]:
    tol = scope.tol
    closed_ship = shift(scope.closed, -tol.custody_grace_periods)
    docs = scope.sql.frame_text("g.body", "record", "documents")
    lines = _LINES.format(focus=scope.focus(lots=["i.lot"]), docs=docs)
    period = "coalesce(g.ship_period, g.recv_period)"
    sql = f"""
    WITH {lines},
    grp AS (
        SELECT sender, receiver, lot, sum(ship_kg) AS ship_kg, sum(recv_kg) AS recv_kg,
               sum(is_ship) AS n_ship, count(*) - sum(is_ship) AS n_recv,
               max(CASE WHEN is_ship = 1 THEN period END) AS ship_period,
               max(CASE WHEN is_ship = 0 THEN period END) AS recv_period,
               min(CASE WHEN is_ship = 1 THEN docs END) AS ship_docs_lo,
               max(CASE WHEN is_ship = 1 THEN docs END) AS ship_docs_hi,
               min(CASE WHEN is_ship = 0 THEN docs END) AS recv_docs_lo,
               max(CASE WHEN is_ship = 0 THEN docs END) AS recv_docs_hi
        FROM lines GROUP BY sender, receiver, lot
    ),
    doubt AS (
        -- Documents are canonical JSON text: when every line of a key carries the same text (or
        -- one side carries none) they agree, and only the rest need comparing type by type.
        SELECT 'documents' AS kind, g.* FROM grp g
        WHERE g.n_ship > 0 AND g.n_recv > 0
          AND g.ship_docs_lo IS NOT NULL AND g.recv_docs_lo IS NOT NULL
          AND NOT (g.ship_docs_lo = g.ship_docs_hi AND g.recv_docs_lo = g.recv_docs_hi
                   AND g.ship_docs_lo = g.recv_docs_lo)
          {scope.period("g.ship_period")} {scope.ent("g.sender", "g.receiver")}
    ),
    bad AS (
        SELECT g.*, CASE
            WHEN g.n_recv = 0 THEN 'ship_without_receive'
            WHEN g.n_ship = 0 THEN 'receive_without_ship'
            ELSE 'quantity' END AS kind
        FROM grp g
        WHERE (
            (g.n_recv = 0 AND g.ship_period <= :closed_ship)
            OR (g.n_ship = 0 AND g.recv_period <= :closed)
            OR (g.n_ship > 0 AND g.n_recv > 0 AND g.ship_period <= :closed_ship
                AND g.recv_period <= :closed
                AND abs(g.ship_kg - g.recv_kg) > :qtol * {scope.greatest("g.ship_kg", "g.recv_kg")})
        ) {scope.period(period)} {scope.ent("g.sender", "g.receiver")}
    )
    SELECT b.sender, b.receiver, b.lot, b.kind, b.ship_kg, b.recv_kg, b.ship_period,
           b.recv_period, l.position, l.is_ship
    FROM bad b JOIN lines l ON l.sender = b.sender AND l.receiver = b.receiver AND l.lot = b.lot
    UNION ALL
    SELECT sender, receiver, lot, kind, ship_kg, recv_kg, ship_period, recv_period, NULL, NULL
    FROM doubt
    ORDER BY 1, 2, 3, 9
    """
    params = scope.params(closed_ship=closed_ship, qtol=tol.custody_qty)
    groups: dict[tuple[str, str, str], list[Any]] = {}
    doubtful: set[str] = set()
    for row in conn.execute(sa.text(sql), params):
        if row.kind == "documents":
            doubtful.add(row.lot)
        else:
            groups.setdefault((row.sender, row.receiver, row.lot), []).append(row)
    received = (int(r.position) for rows in groups.values() for r in rows if not r.is_ship)
    made = made_from(conn, scope, received)
    findings = []
    for (sender, receiver, lot), rows in groups.items():
        first = rows[0]
        kind, ship_kg, recv_kg = first.kind, first.ship_kg, first.recv_kg
        ship_period, recv_period = first.ship_period, first.recv_period
        recv_pos = sorted({int(r.position) for r in rows if not r.is_ship})
        # What the receiver made of this lot: its paired outputs, not the rest of the consignment.
        received_as = sorted({x for p in recv_pos for x in made.get((p, lot), [])})
        if kind == "ship_without_receive":
            summary = M_(
                "{sender} shipped {kg:.1f} kg of {lot} to {receiver}; no receive reported",
                sender=sender, kg=ship_kg, lot=lot, receiver=receiver,
            )  # fmt: skip
            ent = sender
        elif kind == "receive_without_ship":
            summary = M_(
                "{receiver} received {kg:.1f} kg of {lot} from {sender}; no ship reported",
                receiver=receiver, kg=recv_kg, lot=lot, sender=sender,
            )  # fmt: skip
            ent = receiver
        else:
            summary = M_(
                "{lot}: {sender} shipped {ship_kg:.1f} kg, {receiver} received {recv_kg:.1f} kg "
                "({diff_pct:+.2f}%)",
                lot=lot, sender=sender, ship_kg=ship_kg, receiver=receiver, recv_kg=recv_kg,
                diff_pct=(recv_kg - ship_kg) / max(ship_kg, recv_kg) * 100,
            )  # fmt: skip
            ent = receiver
        findings.append(
            Finding(
                rule="unmatched_custody",
                severity="medium",
                enterprise=ent,
                summary=summary,
                lots=(lot, *received_as),
                events=tuple(sorted({int(r.position) for r in rows})),
                period=ship_period or recv_period,
                detail={
                    "kind": kind,
                    "sender": sender,
                    "receiver": receiver,
                    "shipped_kg": round(ship_kg, 3),
                    "received_kg": round(recv_kg, 3),
                    "ship_period": ship_period,
                    "receive_period": recv_period,
                    "tolerance_pct": tol.custody_qty * 100,
                },
            )
        )
    if doubtful:
        findings += _document_mismatches(conn, replace(scope, focus_lots=tuple(sorted(doubtful))))
    return findings


def _side(scope: Scope, type_: str) -> str:
    """Custody lines of one side with their documents, as a subquery (not a CTE: PostgreSQL plans
    a join of CTEs blind, without statistics, and picked quadratic plans for this one)."""
    sender, receiver = ("e.enterprise", "e.counterparty")
    if type_ == "receive":
        sender, receiver = receiver, sender
    return f"""(
        SELECT e.position, {sender} AS sender, {receiver} AS receiver, i.lot, s.period,
               {scope.sql.frame_object("g.body", "record", "documents")} AS docs
        FROM effective_inputs i JOIN events e ON e.position = i.position
        JOIN submissions s ON s.position = e.submission JOIN log g ON g.position = e.position
        WHERE e.type = '{type_}' AND e.counterparty IN (SELECT code FROM enterprises)
          {scope.focus(lots=["i.lot"])}
    )"""


def _document_mismatches(conn: Connection, scope: Scope) -> list[Finding]:
    # A ship is judged against all receives of its key at once (GROUP BY ... HAVING): it is a
    # finding only when every one of them clashes.
    conflict = f"""EXISTS (
        SELECT 1 FROM {scope.sql.each_text("sh.docs", "a")} JOIN {scope.sql.each_text("rc.docs", "b")}
          ON a.key = b.key WHERE a.value <> b.value)"""
    sql = f"""
    SELECT sh.position AS ship, sh.lot, sh.sender, sh.receiver, sh.period,
           CAST(sh.docs AS TEXT) AS ship_docs, CAST(rc.docs AS TEXT) AS recv_docs,
           rc.position AS recv,
           CASE WHEN sh.docs IS NULL OR rc.docs IS NULL OR sh.docs = rc.docs THEN 0
                WHEN {conflict} THEN 1 ELSE 0 END AS clash
    FROM {_side(scope, "ship")} sh JOIN {_side(scope, "receive")} rc
      ON rc.sender = sh.sender AND rc.receiver = sh.receiver AND rc.lot = sh.lot
    WHERE 1 = 1 {scope.period("sh.period")} {scope.ent("sh.sender", "sh.receiver")}
    """
    judged = f"""
    SELECT ship, lot, receiver FROM ({sql}) j
    GROUP BY ship, lot, receiver HAVING min(clash) = 1
    """
    bad = {(int(r.ship), r.lot, r.receiver) for r in conn.execute(sa.text(judged), scope.params())}
    if not bad:
        return []
    # The few ships found wanting, again with their receives for the finding's detail.
    ships = scope.sql.array(sorted({p for p, _, _ in bad}))
    detail_sql = f"SELECT * FROM ({sql}) j WHERE {scope.sql.member('j.ship', 'bad', 'bigint')}"
    groups: dict[tuple[int, str], list[Any]] = {}
    for row in conn.execute(sa.text(detail_sql), scope.params(bad=ships)):
        if (int(row.ship), row.lot, row.receiver) in bad:
            groups.setdefault((int(row.ship), row.lot), []).append(row)
    findings = []
    for (ship, lot), rows in sorted(groups.items()):
        sender, receiver, period = rows[0].sender, rows[0].receiver, rows[0].period
        findings.append(
            Finding(
                rule="unmatched_custody",
                severity="medium",
                enterprise=receiver,
                summary=M_(
                    "{lot}: documents of {sender}'s ship and {receiver}'s receive disagree",
                    lot=lot,
                    sender=sender,
                    receiver=receiver,
                ),
                lots=(lot,),
                events=(ship, *sorted({int(r.recv) for r in rows})),
                period=period,
                detail={
                    "kind": "documents",
                    "sender": sender,
                    "receiver": receiver,
                    "ship_documents": rows[0].ship_docs,
                    "receive_documents": sorted({r.recv_docs for r in rows if r.recv_docs}),
                },
            )
        )
    return findings
