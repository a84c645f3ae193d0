"""What an enterprise may see of the records of others.

Enterprises do not trust each other: a magnet maker may learn where the REO of a lot it holds came from
(which mines, import entries and separation plants, in which shares), but not its suppliers' lot codes,
masses or customers. These functions cut the library's full answers down to that; the service's
authorisation decides who gets the full answer and who gets these.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from reetrace.messages import M_
from reetrace.models import split_lot
from reetrace.store import Store
from reetrace.trace.result import BackTrace

#: Origin kinds whose id is a place or a customs entry, not somebody's lot code.
_PUBLIC_ORIGIN_IDS = frozenset({"mine", "import"})


def lot_holders(store: Store, lot: str) -> frozenset[str]:
    """Enterprises that hold or held ``lot``: its creator, and whoever drew from or received it."""
    ent, code = split_lot(lot, "")
    if not ent or not code:
        raise ValueError(M_("{ref}: give the lot as ENT:LOT", ref=repr(lot)))
    q = sa.text(
        "SELECT DISTINCT e.enterprise FROM inputs i JOIN events e ON e.position = i.position "
        "WHERE i.lot = :lot"
    )
    with store.reading() as conn:
        others = {r[0] for r in conn.execute(q, {"lot": f"{ent}:{code}"})}
    return frozenset({ent, *others})


def origin_summary(back: BackTrace, enterprise: str) -> dict[str, Any]:
    """The origins and separation plants of a back trace, without other enterprises' lots and masses."""
    origins = []
    for o in back.origins:
        own = o.id.partition(":")[0] == enterprise
        origins.append({
            "kind": o.kind,
            "id": o.id if o.kind in _PUBLIC_ORIGIN_IDS or own else None,
            "share": round(o.share, 9),
            "element_shares": (
                None if o.element_shares is None else {el: round(v, 9) for el, v in o.element_shares.items()}
            ),
            "estimated": o.estimated,
        })  # fmt: skip
    plants = [
        {"site": p.site, "enterprise": p.enterprise, "share": round(p.share, 9)}
        for p in back.separation_plants
    ]
    return {
        "direction": "back", "lot": back.lot, "summary": True, "origins": origins,
        "separation_plants": plants, "estimated": back.estimated,
    }  # fmt: skip


def own_lot_report(report: dict[str, Any], enterprise: str) -> dict[str, Any]:
    """A lot report (``reetrace.lot_report``) with only ``enterprise``'s own events in it."""
    out = dict(report)
    out["created_by"] = [c for c in report["created_by"] if c["enterprise"] == enterprise]
    out["drawn_by"] = [d for d in report["drawn_by"] if d["enterprise"] == enterprise]
    if report["lot"].partition(":")[0] != enterprise:
        out["mass_kg"] = None
        out["drawn_kg"] = None
    return out


__all__ = ["lot_holders", "origin_summary", "own_lot_report"]
