"""Looking things up: one lot with its history, the events of an enterprise in a period."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.errors import NotRegistered
from reetrace.messages import M_
from reetrace.models import split_lot
from reetrace.periods import Period
from reetrace.store import Store
from reetrace.store.schema import events, inputs, log, lots, retractions


def _event_cols() -> list[Any]:
    e = events.c
    retracted_by = (
        sa.select(retractions.c.position)
        .where(retractions.c.target == e.position)
        .scalar_subquery()
        .label("retracted_by")
    )
    return [e.position, e.event_id, e.type, e.enterprise, e.site, e.occurred_at, e.counterparty,
            e.process, e.submission, e.line, retracted_by]  # fmt: skip


def _record(conn: Connection, position: int) -> dict[str, Any]:
    body = conn.execute(sa.select(log.c.body).where(log.c.position == position)).scalar()
    frame: dict[str, Any] = orjson.loads(bytes(body)) if body is not None else {}
    rec: dict[str, Any] = frame.get("record", {})
    return rec


def _sign_with(conn: Connection, events: list[dict[str, Any]]) -> None:
    """Set each event's ``signed_by``: the key (``name+key ID``) that signed its submission, or None."""
    cache: dict[int, str | None] = {}
    for d in events:
        sub = int(d["submission"])
        if sub not in cache:
            sig = _record(conn, sub).get("signature")
            cache[sub] = sig.get("key") if isinstance(sig, dict) else None
        d["signed_by"] = cache[sub]


def _event(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d["occurred_at"] = d["occurred_at"].isoformat()
    return d


def lot_report(store: Store, ref: str) -> dict[str, Any]:
    """The lot, the event(s) that created it, and every event that drew from it or received it."""
    ent, code = split_lot(ref, "")
    if not ent or not code:
        raise ValueError(M_("{ref}: give the lot as ENT:LOT", ref=repr(ref)))
    lot = f"{ent}:{code}"
    with store.reading() as conn:
        lc = lots.c
        created = conn.execute(
            sa.select(*_event_cols(), lc.product, lc.form, lc.mass_kg, lc.reo_pct, lc.re_metal_pct, lc.reo_kg)
            .join_from(lots, events, events.c.position == lc.position)
            .where(lc.lot == lot)
            .order_by(events.c.position)
        ).all()
        drawn = conn.execute(
            sa.select(*_event_cols(), inputs.c.mass_kg.label("drawn_kg"))
            .join_from(inputs, events, events.c.position == inputs.c.position)
            .where(inputs.c.lot == lot)
            .order_by(events.c.position)
        ).all()
        creations = []
        for row in created:
            d = _event(row)
            d["record"] = _record(conn, d["position"])
            creations.append(d)
        draws = [_event(r) for r in drawn]
        _sign_with(conn, creations + draws)
    effective = [c for c in creations if c["retracted_by"] is None]
    outflow = sum(
        d["drawn_kg"] for d in draws
        if d["retracted_by"] is None and d["enterprise"] == ent and d["type"] != "receive"
    )  # fmt: skip
    return {
        "lot": lot,
        "exists": bool(effective),
        "created_by": creations,
        "drawn_by": draws,
        "mass_kg": effective[-1]["mass_kg"] if effective else None,
        "drawn_kg": outflow,
    }


def list_events(store: Store, enterprise: str, period: str | None = None) -> list[dict[str, Any]]:
    """Events of one enterprise, optionally in one period (Asia/Shanghai month), with their records."""
    q = sa.select(*_event_cols()).where(events.c.enterprise == enterprise).order_by(events.c.position)
    if period:
        per = Period.parse(period)
        q = q.where(events.c.occurred_at >= per.start(), events.c.occurred_at < per.end())
    out = []
    with store.reading() as conn:
        for row in conn.execute(q):
            d = _event(row)
            d["record"] = _record(conn, d["position"])
            out.append(d)
        if not out:
            known = conn.execute(
                sa.text("SELECT 1 FROM enterprises WHERE code = :c UNION ALL "
                        "SELECT 1 FROM events WHERE enterprise = :c"),
                {"c": enterprise},
            ).first()  # fmt: skip
            if known is None:
                raise NotRegistered(f"{enterprise} is an unknown enterprise: not in the registry, no events")
        _sign_with(conn, out)
    return out


def find_lots(
    store: Store, prefix: str, *, enterprise: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Lots whose reference starts with ``prefix`` (of one holder enterprise, if given), newest first.

    A minimal prefix search for the service; ``reetrace.search_lots`` supersedes it where it exists.
    """
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = "l.lot LIKE :like ESCAPE '\\'"
    params: dict[str, Any] = {"like": like, "limit": limit}
    if enterprise is not None:
        where += " AND l.enterprise = :ent"
        params["ent"] = enterprise
    q = sa.text(
        "SELECT l.lot, l.enterprise, l.product, l.form, l.mass_kg, l.reo_kg, l.position FROM lots l "
        f"WHERE {where} ORDER BY l.position DESC LIMIT :limit"
    )
    with store.reading() as conn:
        return [dict(r._mapping) for r in conn.execute(q, params)]
