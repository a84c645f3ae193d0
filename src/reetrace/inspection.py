"""Looking things up: one lot with its history, the events of an enterprise in a period."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.models import split_lot
from reetrace.periods import Period
from reetrace.store import Store
from reetrace.store.schema import UTCDateTime

_EVENT_COLS = (
    "e.position, e.event_id, e.type, e.enterprise, e.site, e.occurred_at, e.counterparty, e.process, "
    "e.submission, e.line, (SELECT r.position FROM retractions r WHERE r.target = e.position) AS retracted_by"
)


def _record(conn: Connection, position: int) -> dict[str, Any]:
    body = conn.execute(sa.text("SELECT body FROM log WHERE position = :p"), {"p": position}).scalar()
    frame: dict[str, Any] = orjson.loads(bytes(body)) if body is not None else {}
    rec: dict[str, Any] = frame.get("record", {})
    return rec


def _event(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d["occurred_at"] = d["occurred_at"].isoformat()
    return d


def _typed(sql: str) -> sa.TextClause:
    # Raw SQL text carries no column types: say that occurred_at is a UTCDateTime.
    return sa.text(sql).columns(occurred_at=UTCDateTime())  # type: ignore[return-value]


def lot_report(store: Store, ref: str) -> dict[str, Any]:
    """The lot, the event(s) that created it, and every event that drew from it or received it."""
    ent, code = split_lot(ref, "")
    if not ent or not code:
        raise ValueError(f"{ref!r}: give the lot as ENT:LOT")
    lot = f"{ent}:{code}"
    with store.reading() as conn:
        created = conn.execute(
            _typed(
                f"SELECT {_EVENT_COLS}, l.product, l.form, l.mass_kg, l.reo_pct, l.re_metal_pct, "
                "l.reo_kg FROM lots l JOIN events e ON e.position = l.position WHERE l.lot = :lot "
                "ORDER BY e.position"
            ),
            {"lot": lot},
        ).all()
        drawn = conn.execute(
            _typed(
                f"SELECT {_EVENT_COLS}, i.mass_kg AS drawn_kg FROM inputs i "
                "JOIN events e ON e.position = i.position WHERE i.lot = :lot ORDER BY e.position"
            ),
            {"lot": lot},
        ).all()
        creations = []
        for row in created:
            d = _event(row)
            d["record"] = _record(conn, d["position"])
            creations.append(d)
    draws = [_event(r) for r in drawn]
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
    where = "e.enterprise = :ent"
    params: dict[str, Any] = {"ent": enterprise}
    if period:
        per = Period.parse(period)
        where += " AND e.occurred_at >= :a AND e.occurred_at < :b"
        params |= {"a": per.start(), "b": per.end()}
    q = _typed(f"SELECT {_EVENT_COLS} FROM events e WHERE {where} ORDER BY e.position")
    q = q.bindparams(*(sa.bindparam(k, type_=UTCDateTime()) for k in ("a", "b") if k in params))
    out = []
    with store.reading() as conn:
        for row in conn.execute(q, params):
            d = _event(row)
            d["record"] = _record(conn, d["position"])
            out.append(d)
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
