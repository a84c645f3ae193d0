"""Per-event REO and element balance in SQL: what a transformation drew and what it created.

Input content is the drawn mass times the source lot's content per kg (``reo_kg / mass_kg``, and the
same for each element column). ``unknown_in`` counts inputs whose source has no element profile (its
element columns are NULL) and ``missing_in`` inputs whose source lot has no effective creating event;
an element balance means something only when ``unknown_in = 0``, a REO balance only when
``missing_in = 0``. Output element columns treat an unknown profile as 0 (a lower bound).
"""

from __future__ import annotations

from reetrace.audit.scope import Scope
from reetrace.elements import ELEMENTS


def q(el: str) -> str:
    return f'"{el}"'


def event_balance_ctes(scope: Scope, where: str) -> str:
    """CTEs ``ev`` (the events selected by ``where`` over ``events e`` joined to ``submissions s``),
    ``ins`` and ``outs`` (per event), and ``bal`` (their join, one row per event)."""
    in_els = ", ".join(f"sum(i.mass_kg * l.{q(el)} / l.mass_kg) AS {q(el)}" for el in ELEMENTS)
    out_els = ", ".join(f"sum(coalesce(l.{q(el)}, 0)) AS {q(el)}" for el in ELEMENTS)
    bal_els = ", ".join(
        f"ins.{q(el)} AS in_{el.lower()}, outs.{q(el)} AS out_{el.lower()}" for el in ELEMENTS
    )
    return f"""
    ev AS (
        SELECT e.position, e.enterprise, e.type, e.process, e.counterparty, s.period
        FROM events e JOIN submissions s ON s.position = e.submission
        WHERE NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = e.position)
          AND {where}
    ),
    ins AS (
        SELECT i.position, sum(i.mass_kg * l.reo_kg / l.mass_kg) AS reo, sum(i.mass_kg) AS kg,
               sum(CASE WHEN l.lot IS NULL THEN 1 ELSE 0 END) AS missing_in,
               sum(CASE WHEN l.lot IS NOT NULL AND l."La" IS NULL THEN 1 ELSE 0 END) AS unknown_in,
               {in_els}
        FROM ev JOIN inputs i ON i.position = ev.position
        LEFT JOIN effective_lots l ON l.lot = i.lot
        GROUP BY i.position
    ),
    outs AS (
        SELECT l.position, sum(l.reo_kg) AS reo, sum(l.mass_kg) AS kg, {out_els}
        FROM ev JOIN lots l ON l.position = ev.position
        GROUP BY l.position
    ),
    bal AS (
        SELECT ev.position, ev.enterprise, ev.type, ev.process, ev.counterparty, ev.period,
               ins.reo AS reo_in, outs.reo AS reo_out, ins.kg AS kg_in, outs.kg AS kg_out,
               ins.missing_in, ins.unknown_in, {bal_els}
        FROM ev JOIN ins ON ins.position = ev.position JOIN outs ON outs.position = ev.position
    )"""
