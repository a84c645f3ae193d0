"""Finding a lot: by (part of) its code, a customs entry or a document number, by enterprise, period
and form, a page at a time; and the codes closest to a mistyped one.

Lot codes are matched by case-insensitive prefix, with or without the ``ENT:`` part, from the
backend's prefix index (migration ``0004``): ``nbmag:mag-25`` and ``MAG-25`` both find
``NBMAG:MAG-2503-0042``. A customs entry (``origin.customs_entry`` of an import,
``destination.customs_entry`` of an export) or a document number (a value of ``documents``: waybill,
invoice, contract…) is matched exactly, ignoring case, against the recorded events; the lots those
events created or drew from are returned. That second search reads the events' records (a scan of the
log), so it is only run when the text is not already a lot-code prefix match on the page asked for
and ``references=True`` (the default).
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.periods import Period
from reetrace.store import Store
from reetrace.store.dialect import dialect_of
from reetrace.store.schema import UTCDateTime

#: The most rows one page may hold.
MAX_LIMIT = 1000
#: How many lot codes the "did you mean" suggestion compares at most.
CANDIDATES = 200


@dataclass(frozen=True)
class LotHit:
    lot: str
    enterprise: str
    product: str
    form: str
    mass_kg: float
    reo_kg: float
    event_id: str
    occurred_at: str
    period: str
    #: why it matched: "lot", "customs_entry", "documents.<kind>", or "filter" (no text given)
    matched: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LotSearch:
    hits: list[LotHit]
    limit: int
    offset: int
    #: whether a further page exists
    more: bool
    query: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "limit": self.limit, "offset": self.offset, "more": self.more,
                "lots": [h.to_dict() for h in self.hits]}  # fmt: skip


_COLS = "l.lot, l.enterprise, l.product, l.form, l.mass_kg, l.reo_kg, e.event_id, e.occurred_at, l.position"


def search_lots(
    store: Store,
    text: str | None = None,
    *,
    enterprise: str | None = None,
    period: str | None = None,
    form: str | None = None,
    limit: int = 50,
    offset: int = 0,
    references: bool = True,
    order: str = "lot",
) -> LotSearch:
    """Lots (effective output lines) matching every criterion given, ordered by code.

    ``text``: a case-insensitive prefix of the lot code (``ENT:CODE`` or ``CODE``), or a customs
    entry or document number. ``enterprise``: the lot's holder. ``period``: ``YYYY-MM``, the month
    (Asia/Shanghai) of the creating event. ``form``: ``magnet``, ``oxide``…  ``order``: ``"lot"``
    (by code) or ``"recorded"`` (by position in the log: the first lots recorded first).
    """
    if order not in ("lot", "recorded"):
        raise ValueError("order must be 'lot' or 'recorded'")
    by = "l.lot, l.position" if order == "lot" else "l.position, l.lot"
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise ValueError("offset must be 0 or more")
    text = (text or "").strip() or None
    per = Period.parse(period) if period else None
    query = {"text": text, "enterprise": enterprise, "period": str(per) if per else None, "form": form}
    with store.reading() as conn:
        sql = dialect_of(conn)
        where: list[str] = []
        params: dict[str, Any] = {}
        if enterprise:
            # A lot's code starts with its holder: the range stays on the lot index.
            where.append("l.lot >= :ent_lo AND l.lot < :ent_hi")
            params |= {"ent_lo": f"{enterprise}:", "ent_hi": f"{enterprise};"}
        if form:
            where.append("l.form = :form")
            params["form"] = form
        if per:
            where.append("e.occurred_at >= :p_from AND e.occurred_at < :p_to")
            params |= {"p_from": per.start(), "p_to": per.end()}
        rows: list[tuple[Any, str]] = []
        if text:
            top = offset + limit + 1  # each list is cut to the page's end: their merge still is exact
            prefixes = [text]
            if ":" not in text:
                prefixes += [f"{code}:{text}" for code in _enterprises(conn)]
            # One statement, the prefixes OR'd: each is an indexed range (a bitmap OR of them), and the
            # fence in _select keeps ORDER BY lot LIMIT n from walking the whole lot index instead.
            alts = []
            for i, prefix in enumerate(prefixes):
                params |= sql.prefix_params(f"t{i}", prefix)
                alts.append(sql.prefix_match("l.lot", f"t{i}"))
            rows += [
                (r, "lot") for r in _select(conn, [*where, f"({' OR '.join(alts)})"], params, by, limit=top)
            ]
            # Customs entries and document numbers are found by reading event records (no index holds
            # them yet): only when the lot codes alone do not fill the page asked for.
            if references and len(rows) < top:
                rows += _by_reference(conn, text, where, params, by, top)
        else:
            rows += [(r, "filter") for r in _select(conn, where, params, by, limit=offset + limit + 1)]
    seen: set[tuple[str, int]] = set()
    unique = []

    def key(rw: tuple[Any, str]) -> tuple[Any, ...]:
        r = rw[0]
        return (r.lot, r.position) if order == "lot" else (r.position, r.lot)

    for r, why in sorted(rows, key=key):
        if (r.lot, r.position) not in seen:
            seen.add((r.lot, r.position))
            unique.append((r, why))
    page = unique[offset : offset + limit]
    hits = [_hit(r, why) for r, why in page]
    return LotSearch(hits, limit, offset, len(unique) > offset + limit, query)


def _select(
    conn: Connection, where: list[str], params: dict[str, Any], by: str, *, limit: int | None = None
) -> list[Any]:
    inner = (
        f"SELECT {_COLS} FROM effective_lots l JOIN events e ON e.position = l.position "
        f"WHERE {' AND '.join(where) or '1 = 1'}"
    )
    if limit is None:
        q = f"{inner} ORDER BY {by}"
    else:
        # Filter first (from the prefix index), then keep the page's top rows: see Dialect.fence.
        outer_by = by.replace("l.", "s.")
        q = f"SELECT * FROM ({inner}{dialect_of(conn).fence}) s ORDER BY {outer_by} LIMIT {int(limit)}"
    stmt = sa.text(q).columns(occurred_at=UTCDateTime())
    stmt = stmt.bindparams(*(sa.bindparam(k, type_=UTCDateTime()) for k in ("p_from", "p_to") if k in params))
    return list(conn.execute(stmt, params))


def _enterprises(conn: Connection) -> list[str]:
    """Every enterprise that may hold lots: the registry's, and any that submitted (both small tables;
    a lot's holder is the enterprise that reported creating it)."""
    q = "SELECT code FROM enterprises UNION SELECT enterprise FROM submissions"
    return sorted({r[0] for r in conn.execute(sa.text(q))})


def _by_reference(
    conn: Connection, text: str, where: list[str], params: dict[str, Any], by: str, limit: int
) -> list[tuple[Any, str]]:
    """Lots created or drawn by events whose customs entry or a document number is ``text``."""
    sql = dialect_of(conn)
    needle = text.lower()
    q = sa.text(
        "SELECT position, body FROM log WHERE kind = 'event' AND " + sql.body_contains("body", "needle")
    )
    matched: dict[int, str] = {}
    for pos, body in conn.execute(q, {"needle": orjson.dumps(needle).decode()}):
        rec = orjson.loads(bytes(body)).get("record", {})
        why = _reference_of(rec, needle)
        if why:
            matched[int(pos)] = why
    if not matched:
        return []
    positions = sql.array(matched)
    member = sql.member("l.position", "refpos", "bigint")
    drawn = sql.member("i.position", "refpos", "bigint")
    lots_of = f"({member} OR l.lot IN (SELECT i.lot FROM inputs i WHERE {drawn}))"
    out = []
    for r in _select(conn, [*where, lots_of], {**params, "refpos": positions}, by, limit=limit):
        out.append((r, matched.get(int(r.position), "documents")))
    return out


def _reference_of(rec: dict[str, Any], needle: str) -> str | None:
    for part in ("origin", "destination"):
        entry = (rec.get(part) or {}).get("customs_entry")
        if isinstance(entry, str) and entry.lower() == needle:
            return "customs_entry"
    for kind, value in (rec.get("documents") or {}).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and v.lower() == needle for v in values):
            return f"documents.{kind}"
    return None


def _hit(r: Any, why: str) -> LotHit:
    from reetrace.periods import SHANGHAI

    at = r.occurred_at.astimezone(SHANGHAI)
    return LotHit(
        r.lot, r.enterprise, r.product, r.form, float(r.mass_kg), float(r.reo_kg), r.event_id,
        at.isoformat(), at.strftime("%Y-%m"), why,
    )  # fmt: skip


def similar_lots(store: Store, ref: str, n: int = 5) -> list[str]:
    """Up to ``n`` recorded lot codes closest to ``ref`` ("did you mean …").

    Candidates come from the prefix index: the lots sharing the longest prefix of ``ref`` that has
    any, at most :data:`CANDIDATES` of them; ``difflib`` ranks those.
    """
    ref = ref.strip()
    if not ref:
        return []
    candidates: list[str] = []
    with store.reading() as conn:
        sql = dialect_of(conn)
        cut = len(ref)
        while cut > 0 and len(candidates) < CANDIDATES:
            q = sa.text(
                f"SELECT DISTINCT l.lot FROM lots l WHERE {sql.prefix_match('l.lot', 'p')} "
                f"ORDER BY l.lot LIMIT {CANDIDATES}"
            )
            found = [r[0] for r in conn.execute(q, sql.prefix_params("p", ref[:cut]))]
            candidates = sorted(set(candidates) | set(found))[:CANDIDATES]
            if found:
                break
            cut = cut * 2 // 3 if cut > 3 else cut - 1
    if not candidates:
        return []
    upper = {c.upper(): c for c in candidates}
    close = difflib.get_close_matches(ref.upper(), list(upper), n=n, cutoff=0.6)
    return [upper[c] for c in close if upper[c] != ref]
