"""Rule 10, ``period_mass_balance``: per enterprise, month and element, what a plant's transformations
lost must lie in the process-loss band (separation 4–8%, metal smelting 3–5%).

The store keeps *book* stock: a lot's remaining content is its created content less what its holder's
own events drew from it. For an enterprise E, a month M and an element x (or REO in total), all in
REO-equivalent kg:

    opening + receipts + production − shipments − consumption − exports − adjust losses − closing
        = transformation input

where production is the content of the lots E's ``extract``, ``import``, ``process`` and gaining
``adjust`` events created in M, receipts that of its ``receive`` outputs, shipments, consumption,
exports and adjust losses the content its ``ship``, ``consume``, ``export`` and losing ``adjust``
events drew, and transformation input what its ``process`` events drew. With book stock this identity
holds by construction; what the records can get wrong is the *loss* of the transformations, the part
of their input that their outputs do not account for. So the rule checks, per (E, M, process kind with
a band, element):

    loss = input − output of E's effective ``process`` events of that kind in M
    loss share = loss / input, a finding when outside [min, max] of the kind's band

for REO in total and for each element whose input that month is at least ``balance_element_share``
[1%] of the REO input and at least ``balance_floor_kg`` [10 kg] (trace elements are within assay
noise). The element balance counts only events whose inputs all have a known profile; events drawing a
lot that no effective event created are left out (``unexplained_lot`` reports those). A loss below the
band is material from nowhere (yield inflation, laundering); above it, material gone missing. One
finding (severity medium) per enterprise, month and process kind, listing the elements out of band and,
for REO, the book-stock terms above.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Finding
from reetrace.audit.ledger import event_balance_ctes
from reetrace.audit.scope import Scope
from reetrace.elements import ELEMENTS
from reetrace.messages import M_, word

#: Most findings whose book-stock terms are computed (each takes a few indexed queries).
MAX_DETAILED = 200


def bands(scope: Scope) -> dict[str, tuple[float, float]]:
    t = scope.tol
    return {
        "separation": (t.separation_loss_min, t.separation_loss_max),
        "metal_smelting": (t.metal_loss_min, t.metal_loss_max),
    }


def period_mass_balance(conn: Connection, scope: Scope) -> list[Finding]:
    band_of = bands(scope)
    kinds = ", ".join(f"'{k}'" for k in band_of)
    where = (
        f"e.type = 'process' AND e.process IN ({kinds})"
        + scope.period("s.period")
        + scope.ent("e.enterprise")
    )
    el_sums = ", ".join(
        f"sum(CASE WHEN unknown_in = 0 THEN in_{el.lower()} ELSE 0 END) AS in_{el.lower()}, "
        f"sum(CASE WHEN unknown_in = 0 THEN out_{el.lower()} ELSE 0 END) AS out_{el.lower()}"
        for el in ELEMENTS
    )
    sql = f"""
    WITH {event_balance_ctes(scope, where)}
    SELECT enterprise, period, process, count(*) AS events, sum(reo_in) AS reo_in,
           sum(reo_out) AS reo_out,
           sum(CASE WHEN unknown_in = 0 THEN reo_in ELSE 0 END) AS known_in, {el_sums}
    FROM bal WHERE missing_in = 0
    GROUP BY enterprise, period, process
    ORDER BY enterprise, period, process
    """
    tol = scope.tol
    findings = []
    for r in conn.execute(sa.text(sql), scope.params()).mappings():
        lo, hi = band_of[r["process"]]
        reo_in, reo_out = r["reo_in"] or 0.0, r["reo_out"] or 0.0
        if reo_in <= 0:
            continue
        out_of_band: dict[str, dict[str, float]] = {}
        checks = [("REO", reo_in, reo_out)]
        floor = max(tol.balance_floor_kg, tol.balance_element_share * (r["known_in"] or 0.0))
        for el in ELEMENTS:
            i, o = r[f"in_{el.lower()}"] or 0.0, r[f"out_{el.lower()}"] or 0.0
            if i >= floor and i > 0:
                checks.append((el, i, o))
        for name, i, o in checks:
            share = (i - o) / i
            if share < lo or share > hi:
                out_of_band[name] = {
                    "input_kg": round(i, 3),
                    "output_kg": round(o, 3),
                    "loss_kg": round(i - o, 3),
                    "loss_pct": round(share * 100, 3),
                }
        if not out_of_band:
            continue
        share = (reo_in - reo_out) / reo_in
        names = ", ".join(out_of_band)
        findings.append(
            Finding(
                rule="period_mass_balance",
                severity="medium",
                enterprise=r["enterprise"],
                summary=M_(
                    "{ent} {period} {process}: loss out of the {lo_pct:g}–{hi_pct:g}% band "
                    "({elements}); REO loss {loss_pct:.2f}%",
                    ent=r["enterprise"],
                    period=r["period"],
                    process=word(r["process"]),
                    lo_pct=lo * 100,
                    hi_pct=hi * 100,
                    elements=names,
                    loss_pct=share * 100,
                ),
                period=r["period"],
                detail={
                    "process": r["process"],
                    "band_pct": [lo * 100, hi * 100],
                    "events": int(r["events"]),
                    "input_reo_kg": round(reo_in, 3),
                    "output_reo_kg": round(reo_out, 3),
                    "loss_reo_pct": round(share * 100, 3),
                    "out_of_band": out_of_band,
                },
            )
        )
    for f in findings[:MAX_DETAILED]:
        assert f.enterprise is not None and f.period is not None
        f.detail["book_reo_kg"] = book_balance(conn, f.enterprise, f.period)
    return findings


def book_balance(conn: Connection, enterprise: str, period: str) -> dict[str, float]:
    """The REO terms of the book-stock balance of ``enterprise`` in ``period`` (module docstring)."""
    sql = """
    SELECT 'out' AS side, e.type, CASE WHEN s.period < :p THEN 0 ELSE 1 END AS this_period,
           sum(l.reo_kg) AS kg
    FROM events e JOIN submissions s ON s.position = e.submission
    JOIN effective_lots l ON l.position = e.position
    WHERE e.enterprise = :ent AND s.period <= :p
    GROUP BY e.type, CASE WHEN s.period < :p THEN 0 ELSE 1 END
    UNION ALL
    SELECT 'in', e.type, CASE WHEN s.period < :p THEN 0 ELSE 1 END,
           sum(i.mass_kg * l.reo_kg / l.mass_kg)
    FROM events e JOIN submissions s ON s.position = e.submission
    JOIN effective_inputs i ON i.position = e.position JOIN effective_lots l ON l.lot = i.lot
    WHERE e.enterprise = :ent AND e.type <> 'receive' AND s.period <= :p
    GROUP BY e.type, CASE WHEN s.period < :p THEN 0 ELSE 1 END
    """
    before: dict[str, float] = defaultdict(float)
    now: dict[tuple[str, str], float] = defaultdict(float)
    for row in conn.execute(sa.text(sql), {"ent": enterprise, "p": period}):
        side, type_, current, kg = row.side, row.type, row.this_period, row.kg
        if current:
            now[(side, type_)] += kg or 0.0
        else:
            before[side] += kg or 0.0
    opening = before["out"] - before["in"]
    production = sum(now[("out", t)] for t in ("extract", "import", "process", "adjust"))
    terms: dict[str, Any] = {
        "opening": opening,
        "receipts": now[("out", "receive")],
        "production": production,
        "shipments": now[("in", "ship")],
        "consumption": now[("in", "consume")],
        "exports": now[("in", "export")],
        "adjust_losses": now[("in", "adjust")],
        "transformation_input": now[("in", "process")],
    }
    drawn = sum(v for (side, _), v in now.items() if side == "in")
    terms["closing"] = opening + terms["receipts"] + production - drawn
    return {k: round(v, 3) for k, v in terms.items()}
