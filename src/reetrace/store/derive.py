"""Records -> rows of the derived tables. One function per record kind, used by the writers *and* by
``verify``, so the tables and their re-derivation cannot drift apart.

Row tuples follow the column order of :mod:`reetrace.store.schema`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from reetrace.elements import ELEMENTS, reo_equivalent
from reetrace.models import Enterprise, Group, Quota, Site

Row = tuple[Any, ...]
#: (events row, lots rows, inputs rows, edges rows) of one event.
EventRows = tuple[Row, list[Row], list[Row], list[Row]]
_ZEROS = (0.0,) * len(ELEMENTS)
_NONES = (None,) * len(ELEMENTS)


def event_rows(
    position: int, submission: int, line: int, rec: dict[str, Any], digest: str, *, with_edges: bool = True
) -> EventRows:
    """(events row, lots rows, inputs rows, edges rows) of one event, from its canonical record.

    Working from the canonical record (not the model) lets a parser process hand records over as bytes,
    and is exactly what ``verify`` reads back from the log. ``with_edges=False`` leaves the edges out
    (an empty list): ``verify`` streams those of a very large event from :func:`edge_rows` instead.
    """
    ent = rec["enterprise"]
    event = (
        position, submission, line, ent, rec["event_id"], rec["type"], rec.get("site"),
        datetime.fromisoformat(rec["occurred_at"]), rec.get("counterparty"), rec.get("process"),
        rec.get("retracts"), digest,
    )  # fmt: skip
    outs = rec.get("outputs") or ()
    ins_ = rec.get("inputs") or ()
    lots: list[Row] = []
    for idx, out in enumerate(outs):
        reo_pct = out.get("reo_pct")
        metal_pct = out.get("re_metal_pct")
        reo, per_el = reo_equivalent(
            out["mass_kg"], reo_pct=reo_pct, re_metal_pct=metal_pct, elements=out.get("elements")
        )
        els = tuple(map(per_el.get, ELEMENTS, _ZEROS)) if per_el is not None else _NONES
        lots.append(
            (position, idx, out["lot"], ent, out["product"], out["form"], out["mass_kg"], reo_pct, metal_pct,
             reo, *els)
        )  # fmt: skip
    ins = [(position, idx, i["lot"], i["lot"].partition(":")[0], i["mass_kg"]) for idx, i in enumerate(ins_)]
    if not with_edges:
        edges: list[Row] = []
    elif rec["type"] == "receive":
        edges = receive_edges(position, ins_, outs)
    else:
        # Spelled out as in edge_rows (a list comprehension is the writers' hot path; a test of verify on
        # a very large event keeps the two equal).
        edges = [(position, i["lot"], o["lot"], i["mass_kg"]) for i in ins_ for o in outs]
    return event, lots, ins, edges


def document_rows(position: int, rec: dict[str, Any]) -> list[Row]:
    """The ``documents`` rows of one event: its customs entry (``origin`` or ``destination``) and each
    document number, in record order, with the number lower-cased as the search key."""
    found: list[tuple[str, str]] = []
    for part in ("origin", "destination"):
        entry = (rec.get(part) or {}).get("customs_entry")
        if isinstance(entry, str):
            found.append((f"{part}.customs_entry", entry))
    for kind, value in (rec.get("documents") or {}).items():
        # One number per kind under the current contract; a list is read too, as search always did.
        for number in value if isinstance(value, list) else (value,):
            if isinstance(number, str):
                found.append((f"documents.{kind}", number))
    return [(position, idx, fld, number, number.lower()) for idx, (fld, number) in enumerate(found)]


def edge_rows(position: int, rec: dict[str, Any]) -> Iterator[Row]:
    """The edges rows of one event, one at a time (``verify`` streams a very large event's)."""
    outs = rec.get("outputs") or ()
    ins = rec.get("inputs") or ()
    if rec["type"] == "receive":
        yield from receive_edges(position, ins, outs)
        return
    for i in ins:
        for o in outs:
            yield (position, i["lot"], o["lot"], i["mass_kg"])


def receive_edges(position: int, ins: Any, outs: Any) -> list[Row]:
    """The edges of a receive: each output paired with the one input it comes from
    (docs/contract/events.md, "receive: pairs, never a blend").

    The source of output *i* is its ``from``, or else input *i* by position. An edge's ``mass_kg`` is
    the part of what was drawn from its source that went into that output: all of it for the only
    output of a source, and for a lot split on arrival the drawn mass apportioned by the outputs'
    masses, so that a source's edges still add up to what the event drew from it.

    **Legacy:** a receive recorded before pairing (2026-11-28) with no ``from`` and unequal counts
    cannot pair; it keeps the blend it was recorded with, every input × every output with the drawn
    mass, as before, so that stores old and new derive (and verify) the same way.
    """
    if not any("from" in o for o in outs):
        if len(ins) != len(outs):
            return [(position, i["lot"], o["lot"], i["mass_kg"]) for i in ins for o in outs]
        pairs = [(i["lot"], o) for i, o in zip(ins, outs, strict=True)]
    else:
        pairs = [(o["from"], o) for o in outs]
    drawn = {i["lot"]: i["mass_kg"] for i in ins}
    made: dict[str, list[float]] = {}
    for src, o in pairs:
        made.setdefault(src, []).append(o["mass_kg"])
    rows: list[Row] = []
    for src, o in pairs:
        masses = made[src]
        # One output takes what was drawn exactly (no rounding through a ratio): the rows of receives
        # recorded before pairing, all of this kind, stay the same.
        kg = drawn[src] if len(masses) == 1 else drawn[src] * o["mass_kg"] / sum(masses)
        rows.append((position, src, o["lot"], kg))
    return rows


def submission_row(position: int, rec: dict[str, Any]) -> Row:
    return (
        position, rec["enterprise"], rec["period"], datetime.fromisoformat(rec["received_at"]),
        rec["received_at_given"], datetime.fromisoformat(rec["deadline"]), rec["late"],
        rec["source"], rec["digest"],
    )  # fmt: skip


def foreign_rows(position: int, rec: dict[str, Any]) -> list[Row]:
    """Rows of ``foreign_links`` for a ``foreign`` record: the accepted steps of the supplier's document
    (refused events derive nothing; the document itself stays in the log)."""
    from reetrace.epcis.foreign import parse_foreign

    chain = parse_foreign(rec["document"])
    entry = rec["import_entry"]
    steps: list[tuple[int, str, str | None, str, float, str | None, str | None]] = []
    for o in chain.origins:
        steps += [(o.index, "origin", None, q.lot, q.kg, o.location, o.biz_step) for q in o.lots]
    for t in chain.transformations:
        steps += [
            (t.index, "edge", i.lot, q.lot, i.kg, t.location, t.biz_step) for q in t.outputs for i in t.inputs
        ]
    for c in chain.custody:
        steps += [(c.index, "custody", None, q.lot, q.kg, c.location, c.biz_step) for q in c.lots]
    steps.sort(key=lambda s: s[0])  # stable: document order, then the order above
    return [(position, idx, entry, *step) for idx, step in enumerate(steps)]


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


def principal_row(kind: str, position: int, rec: dict[str, Any]) -> Row:
    """The row of a ``principal``, ``token`` or ``revocation`` record (see :mod:`reetrace.principals`)."""
    if kind == "principal":
        return (position, rec["name"], rec["role"], rec.get("enterprise"),
                datetime.fromisoformat(rec["created_at"]), rec["by"])  # fmt: skip
    if kind == "token":
        expires = rec.get("expires_at")
        return (position, rec["id"], rec["principal"], rec["sha256"],
                datetime.fromisoformat(rec["issued_at"]),
                datetime.fromisoformat(expires) if expires else None, rec["by"])  # fmt: skip
    if kind == "revocation":
        return (position, rec["token"], datetime.fromisoformat(rec["revoked_at"]), rec["by"])
    raise ValueError(f"unknown principal kind {kind!r}")
