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
    ``flow`` (their input and output lines), ``sums`` (one row per event position) and ``bal``
    (``sums`` with the event's enterprise, type, process, counterparty and period).

    Inputs and outputs are stacked and aggregated once, by position alone, rather than aggregated
    apart and joined: SQLite would join two materialized aggregates by nested scans, and a narrow
    integer key keeps PostgreSQL's hash aggregate small."""
    in_els = ", ".join(f"i.mass_kg * l.{q(el)} / l.mass_kg AS {q(el)}" for el in ELEMENTS)
    out_els = ", ".join(f"coalesce(l.{q(el)}, 0) AS {q(el)}" for el in ELEMENTS)
    sum_els = ", ".join(
        f"sum(CASE WHEN side = 1 THEN {q(el)} END) AS in_{el.lower()}, "
        f"sum(CASE WHEN side = 0 THEN {q(el)} ELSE 0 END) AS out_{el.lower()}"
        for el in ELEMENTS
    )
    return f"""
    ev AS (
        SELECT e.position, e.enterprise, e.type, e.process, e.counterparty, s.period
        FROM events e JOIN submissions s ON s.position = e.submission
        WHERE NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = e.position)
          AND {where}
    ),
    flow AS (
        SELECT i.position, 1 AS side, i.mass_kg * l.reo_kg / l.mass_kg AS reo, i.mass_kg AS kg,
               CASE WHEN l.lot IS NULL THEN 1 ELSE 0 END AS missing,
               CASE WHEN l.lot IS NOT NULL AND l."La" IS NULL THEN 1 ELSE 0 END AS unknown,
               {in_els}
        FROM ev JOIN inputs i ON i.position = ev.position
        LEFT JOIN effective_lots l ON l.lot = i.lot
        UNION ALL
        SELECT l.position, 0, l.reo_kg, l.mass_kg, 0, 0, {out_els}
        FROM ev JOIN lots l ON l.position = ev.position
    ),
    sums AS (
        SELECT position,
               sum(CASE WHEN side = 1 THEN reo ELSE 0 END) AS reo_in,
               sum(CASE WHEN side = 0 THEN reo ELSE 0 END) AS reo_out,
               sum(CASE WHEN side = 1 THEN kg ELSE 0 END) AS kg_in,
               sum(CASE WHEN side = 0 THEN kg ELSE 0 END) AS kg_out,
               sum(missing) AS missing_in, sum(unknown) AS unknown_in,
               sum(CASE WHEN side = 1 AND unknown = 1 THEN reo ELSE 0 END) AS unknown_reo_in,
               {sum_els}
        FROM flow
        GROUP BY position
    ),
    bal AS (
        SELECT ev.enterprise, ev.type, ev.process, ev.counterparty, ev.period, sums.*
        FROM sums JOIN ev ON ev.position = sums.position
    )"""
