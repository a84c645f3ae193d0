"""Rule 2, ``output_exceeds_input``: a transformation creates more rare earth than it drew.

Checked on every effective ``process`` event (docs/contract/audit-rules.md, rule 2):

- REO: output REO > input REO × (1 + ``output_reo``) [1%];
- element: for any element, output kg > input kg + max(input kg × ``element_excess`` [2%],
  ``element_floor_kg`` [1 kg]). The 2% is of that element's own input: a share of the total REO would
  let a separator "find" tonnes of Dy in Bayan Obo feed, which is what this check exists to catch.

A ``receive`` turns the sender's lot into a new lot of the receiver; re-declaring a richer content
there launders as well as a process does, so receives get the REO check too (kind ``receive_reo``;
a receive creates no element, and a per-element check of every custody event would double the cost of
this rule for nothing the REO check misses). Both receive checks are made per source input and the
outputs paired with it (docs/contract/events.md: a receive pairs, never blends); the second, kind
``receive_mass`` (severity medium), is a lot split on arrival (or received whole) into outputs that
weigh more than was drawn from it beyond ``custody_qty`` [1%]. Recorded, not refused: the evidence
stays in the log for the inspector.

An event drawing a lot that has no effective creating event is left to ``unexplained_lot`` (its input
content is unknown). Outputs of unknown profile count as 0 of every element. Inputs of unknown profile
declare no element: an element beyond what the *declared* inputs hold is still a finding, because
nothing on record backs it. When inputs of unknown profile are present and their REO could cover every
excess element, the finding is of kind ``undeclared_feed`` with severity medium (blending undeclared
material into declared feed is how laundered ionic clay turns into Dy and Tb oxide; a plant that simply
never declares its feed's profile is also worth an inspector's question); otherwise severity high.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Finding
from reetrace.audit.ledger import event_balance_ctes
from reetrace.audit.scope import Scope, event_lots, made_from
from reetrace.elements import ELEMENTS
from reetrace.messages import M_, Message, word


def output_exceeds_input(conn: Connection, scope: Scope) -> list[Finding]:
    where = (
        "e.type = 'process'"
        + scope.period("s.period")
        + scope.ent("e.enterprise")
        + scope.focus(positions=["e.position"])
    )
    el_terms = " OR ".join(
        f"out_{el.lower()} > coalesce(in_{el.lower()}, 0) + "
        f"{scope.greatest(f'coalesce(in_{el.lower()}, 0) * :etol', ':efloor')}"
        for el in ELEMENTS
    )
    sql = f"""
    WITH {event_balance_ctes(scope, where)}
    SELECT * FROM bal
    WHERE missing_in = 0
      AND (reo_out > reo_in * (1 + :rtol) OR {el_terms})
    ORDER BY position
    """
    tol = scope.tol
    params = scope.params(rtol=tol.output_reo, etol=tol.element_excess, efloor=tol.element_floor_kg)
    rows = [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]
    lots = event_lots(conn, scope, (r["position"] for r in rows))
    findings = []
    for r in rows:
        detail: dict[str, Any] = {
            "event_type": r["type"],
            "process": r["process"],
            "input_reo_kg": round(r["reo_in"], 3),
            "output_reo_kg": round(r["reo_out"], 3),
            "excess_reo_kg": round(r["reo_out"] - r["reo_in"], 3),
            "excess_reo_pct": _pct(r["reo_out"] - r["reo_in"], r["reo_in"]),
            "tolerance_pct": tol.output_reo * 100,
        }
        elements = {}
        for el in ELEMENTS:
            i, o = r[f"in_{el.lower()}"] or 0.0, r[f"out_{el.lower()}"] or 0.0
            if o > i + max(i * tol.element_excess, tol.element_floor_kg):
                elements[el] = {
                    "input_kg": round(i, 3),
                    "output_kg": round(o, 3),
                    "excess_kg": round(o - i, 3),
                }
        reo_excess = r["reo_out"] > r["reo_in"] * (1 + tol.output_reo)
        undeclared = r["unknown_reo_in"] or 0.0
        kind = "reo" if reo_excess else "element"
        if elements:
            detail["elements"] = elements
        if r["unknown_in"]:
            detail["undeclared_input_reo_kg"] = round(undeclared, 3)
            if not reo_excess and all(e["excess_kg"] <= undeclared for e in elements.values()):
                kind = "undeclared_feed"
        detail["kind"] = kind
        # "process separation", or "process" alone when the event names no process.
        event = (
            Message("{type} {process}", {"type": word(r["type"]), "process": word(r["process"])})
            if r["process"]
            else word(r["type"])
        )
        amounts: dict[str, Any] = {"event": event, "reo_out": r["reo_out"], "reo_in": r["reo_in"]}
        names = ", ".join(elements)
        if reo_excess and elements:
            summary = M_(
                "{event} output exceeds input in REO ({elements}): {reo_out:.1f} kg REO out of "
                "{reo_in:.1f} kg in", elements=names, **amounts,
            )  # fmt: skip
        elif reo_excess:
            summary = M_(
                "{event} output exceeds input in REO: {reo_out:.1f} kg REO out of {reo_in:.1f} kg in",
                **amounts,
            )
        elif elements:
            summary = M_(
                "{event} output exceeds input in element ({elements}): {reo_out:.1f} kg REO out of "
                "{reo_in:.1f} kg in", elements=names, **amounts,
            )  # fmt: skip
        else:
            summary = M_(
                "{event} output exceeds input in element: {reo_out:.1f} kg REO out of {reo_in:.1f} kg in",
                **amounts,
            )
        findings.append(
            Finding(
                rule="output_exceeds_input",
                severity="medium" if kind == "undeclared_feed" else "high",
                enterprise=r["enterprise"],
                summary=summary,
                lots=tuple(lots.get(r["position"], [])),
                events=(r["position"],),
                period=r["period"],
                detail=detail,
            )
        )
    return findings + _receives(conn, scope)


def _receives(conn: Connection, scope: Scope) -> list[Finding]:
    """Receive checks, per source input and the outputs paired with it (its edges): one receipt of a
    consignment may carry several lots, and an excess on one is not offset by a shortfall on another.
    A legacy blended receive (more edges than outputs: recorded before receipts were paired) is judged
    as a whole, as it was recorded."""
    where = scope.period("s.period") + scope.ent("e.enterprise") + scope.focus(positions=["e.position"])
    sql = f"""
    WITH ev AS (
        SELECT e.position, e.enterprise, s.period
        FROM events e JOIN submissions s ON s.position = e.submission
        WHERE e.type = 'receive' {where}
          AND NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = e.position)
    ),
    blend AS (
        SELECT d.position FROM ev JOIN edges d ON d.position = ev.position
        GROUP BY d.position HAVING count(*) > count(DISTINCT d.dst)
    ),
    flow AS (
        SELECT i.position, CASE WHEN b.position IS NULL THEN i.lot END AS src,
               i.mass_kg * l.reo_kg / l.mass_kg AS reo_in, 0.0 AS reo_out,
               i.mass_kg AS kg_in, 0.0 AS kg_out, CASE WHEN l.lot IS NULL THEN 1 ELSE 0 END AS missing
        FROM ev JOIN inputs i ON i.position = ev.position LEFT JOIN effective_lots l ON l.lot = i.lot
        LEFT JOIN blend b ON b.position = ev.position
        UNION ALL
        SELECT o.position, d.src, 0.0, o.reo_kg, 0.0, o.mass_kg, 0
        FROM ev JOIN lots o ON o.position = ev.position
        JOIN edges d ON d.position = o.position AND d.dst = o.lot
        WHERE ev.position NOT IN (SELECT position FROM blend)
        UNION ALL
        SELECT o.position, NULL, 0.0, o.reo_kg, 0.0, o.mass_kg, 0
        FROM ev JOIN lots o ON o.position = ev.position
        WHERE ev.position IN (SELECT position FROM blend)
    ),
    sums AS (
        SELECT position, src, sum(reo_in) AS reo_in, sum(reo_out) AS reo_out, sum(kg_in) AS kg_in,
               sum(kg_out) AS kg_out, sum(missing) AS missing
        FROM flow GROUP BY position, src
    )
    SELECT sums.position, ev.enterprise, ev.period, sums.src, sums.reo_in, sums.reo_out,
           sums.kg_in, sums.kg_out, sums.missing
    FROM sums JOIN ev ON ev.position = sums.position
    WHERE (sums.missing = 0 AND sums.reo_out > sums.reo_in * (1 + :rtol))
       OR sums.kg_out > sums.kg_in * (1 + :qtol)
    ORDER BY sums.position, sums.src
    """
    tol = scope.tol
    rows = list(conn.execute(sa.text(sql), scope.params(rtol=tol.output_reo, qtol=tol.custody_qty)))
    lots = event_lots(conn, scope, (int(r.position) for r in rows if r.src is None))
    paired = made_from(conn, scope, (int(r.position) for r in rows if r.src is not None))
    findings = []
    for r in rows:
        pos, ent, period, src = int(r.position), r.enterprise, r.period, r.src
        reo_in, reo_out, kg_in, kg_out, missing = r.reo_in, r.reo_out, r.kg_in, r.kg_out, r.missing
        # A pair names its source and the outputs made from it; a legacy blend every lot of the event.
        named = tuple(lots.get(pos, [])) if src is None else (src, *paired.get((pos, src), []))
        if not missing and reo_out > reo_in * (1 + tol.output_reo):
            findings.append(Finding(
                rule="output_exceeds_input", severity="high", enterprise=ent,
                summary=(
                    M_("receive of {lot} declares {out:.1f} kg REO out of {drawn:.1f} kg drawn",
                       lot=src, out=reo_out, drawn=reo_in)
                    if src is not None
                    else M_(
                        "receive declares {out:.1f} kg REO out of {drawn:.1f} kg drawn",
                        out=reo_out,
                        drawn=reo_in,
                    )
                ),
                lots=named, events=(pos,), period=period,
                detail={
                    "kind": "receive_reo", "event_type": "receive", "source": src,
                    "input_reo_kg": round(reo_in, 3), "output_reo_kg": round(reo_out, 3),
                    "excess_reo_kg": round(reo_out - reo_in, 3),
                    "excess_reo_pct": _pct(reo_out - reo_in, reo_in),
                    "tolerance_pct": tol.output_reo * 100,
                },
            ))  # fmt: skip
        if kg_out > kg_in * (1 + tol.custody_qty):
            findings.append(Finding(
                rule="output_exceeds_input", severity="medium", enterprise=ent,
                summary=(
                    M_("receive of {lot} declares {out:.1f} kg received out of {drawn:.1f} kg drawn",
                       lot=src, out=kg_out, drawn=kg_in)
                    if src is not None
                    else M_(
                        "receive declares {out:.1f} kg received out of {drawn:.1f} kg drawn",
                        out=kg_out,
                        drawn=kg_in,
                    )
                ),
                lots=named, events=(pos,), period=period,
                detail={
                    "kind": "receive_mass", "event_type": "receive", "source": src,
                    "input_kg": round(kg_in, 3), "output_kg": round(kg_out, 3),
                    "excess_kg": round(kg_out - kg_in, 3),
                    "excess_pct": _pct(kg_out - kg_in, kg_in),
                    "tolerance_pct": tol.custody_qty * 100,
                },
            ))  # fmt: skip
    return findings


def _pct(part: float, whole: float) -> float | None:
    return round(part / whole * 100, 3) if whole else None
