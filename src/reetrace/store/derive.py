"""Records -> rows of the derived tables. One function per record kind, used by the writers *and* by
``verify``, so the tables and their re-derivation cannot drift apart.

Row tuples follow the column order of :mod:`reetrace.store.schema`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reetrace.elements import ELEMENTS, reo_equivalent
from reetrace.models import Enterprise, Group, Quota, Site

Row = tuple[Any, ...]
_ZEROS = (0.0,) * len(ELEMENTS)
_NONES = (None,) * len(ELEMENTS)


def event_rows(
    position: int, submission: int, line: int, rec: dict[str, Any], digest: str
) -> tuple[Row, list[Row], list[Row], list[Row]]:
    """(events row, lots rows, inputs rows, edges rows) of one event, from its canonical record.

    Working from the canonical record (not the model) lets a parser process hand records over as bytes,
    and is exactly what ``verify`` reads back from the log.
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
    edges = [(position, i["lot"], o["lot"], i["mass_kg"]) for i in ins_ for o in outs]
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
