"""Records -> rows of the derived tables. One function per record kind, used by the writers *and* by
``verify``, so the tables and their re-derivation cannot drift apart.

Row tuples follow the column order of :mod:`reetrace.store.schema`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reetrace.elements import ELEMENTS
from reetrace.models import Enterprise, Event, Group, Quota, Site

Row = tuple[Any, ...]
_ZEROS = (0.0,) * len(ELEMENTS)
_NONES = (None,) * len(ELEMENTS)


def event_rows(
    position: int, submission: int, line: int, ev: Event, digest: str
) -> tuple[Row, list[Row], list[Row], list[Row]]:
    """(events row, lots rows, inputs rows, edges rows) of one event."""
    event = (
        position, submission, line, ev.enterprise, ev.event_id, ev.type, ev.site, ev.occurred_at,
        ev.counterparty, ev.process, ev.retracts, digest,
    )  # fmt: skip
    lots: list[Row] = []
    for idx, out in enumerate(ev.outputs):
        reo, per_el = out.reo()
        els = tuple(map(per_el.get, ELEMENTS, _ZEROS)) if per_el is not None else _NONES
        lots.append(
            (position, idx, out.lot, ev.enterprise, out.product, out.form, out.mass_kg,
             out.reo_pct, out.re_metal_pct, reo, *els)
        )  # fmt: skip
    ins = [
        (position, idx, inp.lot, inp.lot.partition(":")[0], inp.mass_kg) for idx, inp in enumerate(ev.inputs)
    ]
    edges = [(position, i.lot, o.lot, i.mass_kg) for i in ev.inputs for o in ev.outputs]
    return event, lots, ins, edges


def submission_row(position: int, rec: dict[str, Any]) -> Row:
    return (
        position, rec["enterprise"], rec["period"], datetime.fromisoformat(rec["received_at"]),
        rec["received_at_given"], datetime.fromisoformat(rec["deadline"]), rec["late"],
        rec["source"], rec["digest"],
    )  # fmt: skip


def registry_row(kind: str, position: int, rec: dict[str, Any]) -> Row:
    if kind == "group":
        g = Group.model_validate(rec)
        return (position, g.code, g.name)
    if kind == "enterprise":
        e = Enterprise.model_validate(rec)
        return (position, e.code, e.name, e.group, e.province, " ".join(e.roles), e.approved)
    if kind == "site":
        s = Site.model_validate(rec)
        return (position, s.code, s.enterprise, s.kind, s.licence, s.capacity_t, s.name, s.province)
    if kind == "quota":
        q = Quota.model_validate(rec)
        return (position, q.year, q.batch, q.holder, q.category, q.tonnes_reo, q.note)
    raise ValueError(f"unknown registry kind {kind!r}")
