"""Finding a lot: by (part of) its code, a customs entry or a document number, its product, by
enterprise, period and form, a page at a time; and the codes closest to a mistyped one.

Lot codes are matched by case-insensitive prefix, with or without the ``ENT:`` part, from the
backend's prefix index (migration ``0004``): ``nbmag:mag-25`` and ``MAG-25`` both find
``NBMAG:MAG-2503-0042``. Without ``ENT:`` the text stands for one prefix per enterprise, each a range
of that index read in its order, so that a page costs a page of index entries however many lots match
(:func:`_by_code`). A customs entry (``origin.customs_entry`` of an import,
``destination.customs_entry`` of an export) or a document number (a value of ``documents``: waybill,
invoice, contract…) is matched exactly, ignoring case, from the derived table ``documents`` (migration
``0008``); the lots those events created or drew from are returned. Part of a product name is matched
against the distinct names, read from the product index.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.periods import Period
from reetrace.store import Store
from reetrace.store.dialect import dialect_of, pairs
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
    #: why it matched: "lot", "customs_entry", "documents.<kind>", "product", or "filter" (no text given)
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
    """Lots (effective output lines) matching every criterion given, a page at a time.

    ``text``: a case-insensitive prefix of the lot code (``ENT:CODE`` or ``CODE``), a customs entry
    or document number, or part of a product name. ``enterprise``: the lot's holder. ``period``:
    ``YYYY-MM``, the month (Asia/Shanghai) of the creating event. ``form``: ``magnet``, ``oxide``…
    ``order``: ``"lot"`` (by code) or ``"recorded"`` (by position in the log: the first lots recorded
    first).

    With ``text`` and ``order="lot"``, the lots of the events that carry ``text`` as a customs entry or
    document number come first (by code), then the lots whose code starts with it, by code ignoring
    case, then the lots of a product whose name contains it (3 characters or more, ignoring case), by
    code; without ``text``, the lots by code ignoring case.
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
    top = offset + limit + 1  # one more than the page's end: whether a further page exists
    with store.reading() as conn:
        dialect_of(conn).tune_for_lookup(conn)
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
        if not text and order == "recorded":
            found = [(r, "filter") for r in _select(conn, where, params, by, limit=top, fenced=False)]
        elif not text and not per:
            # Every lot (of the enterprise), by code: one walk of the prefix index.
            whole = [_Range(f"{enterprise}:" if enterprise else "", None)]
            found = [(r, "filter") for r in _by_code(conn, whole, where, params, top)]
        elif not text:
            # Every lot of a month (of the enterprise): a range per enterprise, for its events' index.
            found = [(r, "filter") for r in _by_code(conn, _ranges(conn, "", enterprise), where, params, top)]
        elif order == "recorded":
            found = _recorded(conn, text, enterprise, where, params, top, references)
        else:
            refs = _by_reference(conn, text, where, params, by, top) if references else []
            if len(refs) >= top:
                found = refs
            else:
                # A lot may be both (its code starts with a number it was shipped under): listed once,
                # with the references, so that the lot-code matches are read past as many more.
                shown = {(r.lot, r.position) for r, _ in refs}
                codes = _by_code(conn, _ranges(conn, text, enterprise), where, params, top + len(refs))
                found = refs + [(r, "lot") for r in codes if (r.lot, r.position) not in shown]
                products = _products_matching(conn, text) if len(found) < top else []
                if products:
                    # Last, the lots of a product named like the text; the groups before are whole here.
                    shown = {(r.lot, r.position) for r, _ in found}
                    named = _by_product(conn, products, where, params, top + len(found))
                    found += [(r, "product") for r in named if (r.lot, r.position) not in shown]
    page = found[offset : offset + limit]
    hits = [_hit(r, why) for r, why in page]
    return LotSearch(hits, limit, offset, len(found) > offset + limit, query)


@dataclass(frozen=True)
class _Range:
    """A lot-code prefix to read from the prefix index; ``holders``: the enterprises whose lots it can
    hold (those whose code is its ``ENT:`` part ignoring case), or None for a prefix of the whole
    reference."""

    prefix: str
    holders: tuple[str, ...] | None


def _ranges(
    conn: Connection, text: str, enterprise: str | None, codes: list[str] | None = None
) -> list[_Range]:
    """The lot-code prefixes ``text`` stands for, disjoint and in index order.

    ``ENT:CODE`` is one prefix. A text without ``:`` is a prefix of the whole reference (``nbm`` finds
    ``NBMAG:…``) and of the code after each enterprise's ``ENT:``; an enterprise's prefix is left out
    when the first already covers it. An empty text stands for every lot, one range per enterprise.
    Each is a range of the prefix index read in order, so a short prefix matching half the lots costs a
    page of index entries, not half the lots. ``codes``: the enterprises, when the caller has them.
    """
    codes = _enterprises(conn) if codes is None else codes
    by_key: dict[str, list[str]] = {}
    for code in codes:  # codes differing in case only share a range: ignoring case, they are one prefix
        by_key.setdefault(code.lower(), []).append(code)
    key = text.lower()
    if ":" in text:
        ranges = [_Range(text, tuple(by_key.get(key.partition(":")[0], ())))]
    else:
        ranges = [_Range(text, None)] if text else []
        ranges += [
            _Range(f"{same[0]}:{text}", tuple(same))
            for low, same in by_key.items()
            if not text or not low.startswith(key)
        ]
    if enterprise:
        own = f"{enterprise}:".lower()
        ranges = [r for r in ranges if r.prefix.lower().startswith(own) or own.startswith(r.prefix.lower())]
    return sorted(ranges, key=lambda r: r.prefix.lower())


#: Prefix ranges read by the first statement of :func:`_by_code` (a short prefix fills a page from the
#: first few); each further statement reads up to :data:`MAX_RANGES` (SQLite allows 500 arms of a UNION).
FIRST_RANGES = 8
MAX_RANGES = 256


def _by_code(
    conn: Connection,
    ranges: list[_Range],
    where: list[str],
    params: dict[str, Any],
    top: int,
) -> list[Any]:
    """The first ``top`` effective lots whose code starts with one of ``ranges`` (disjoint, in order),
    in that order, each range read in index order up to the rows still needed (see :func:`_code_keys`;
    with a period, :func:`_dated_by_code`), then their columns for those rows alone."""
    if "p_from" in params:
        return _dated_by_code(conn, ranges, where, params, top)
    keys = _code_keys(conn, ranges, where, params, top, live=True)
    if not keys:
        return []
    sql = dialect_of(conn)
    q = (
        f"SELECT {_COLS}, l.idx FROM lots l JOIN events e ON e.position = l.position "
        f"WHERE {sql.pair_member('l.idx', 'l.position', 'keys')}"
    )
    rows = {(r.position, r.idx): r for r in _run(conn, q, {"keys": pairs((k.idx, k.position) for k in keys)})}
    return [rows[k.position, k.idx] for k in keys]


def _code_keys(
    conn: Connection,
    ranges: list[_Range],
    where: list[str],
    params: dict[str, Any],
    top: int,
    *,
    live: bool,
    first: int = FIRST_RANGES,
) -> list[Any]:
    """(lot, position, idx, rng) of the first ``top`` lots of ``ranges`` (of those not retracted, when
    ``live``), in order; ``rng``: the range's index in ``ranges``. ``where`` may name columns of
    ``lots l`` only. Each range is read from the prefix index alone (no view, no join to ``events``);
    where the backend stops reading ranges once the page is full (PostgreSQL), in one statement,
    else a few ranges per statement until it is (``first``, then :data:`MAX_RANGES`)."""
    sql = dialect_of(conn)
    cond = [*where, "NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = l.position)"] if live else where
    out: list[Any] = []
    at, chunk = 0, len(ranges) if sql.ranges_stop_early else first
    while at < len(ranges) and len(out) < top:
        need, binds = top - len(out), dict(params)
        part = [r.prefix for r in ranges[at : at + chunk]]
        q = sql.prefix_ranges(
            "l.lot, l.position, l.idx", "lots l", cond, "l.lot", part, "l.lot, l.position", need, binds
        )
        out += [(r.lot, r.position, r.idx, r.rng + at) for r in conn.execute(sa.text(q), binds)]
        at += chunk
        chunk = MAX_RANGES
    return [_Key(*r) for r in out]


@dataclass(frozen=True)
class _Key:
    lot: str
    position: int
    idx: int
    #: the index of the range it was read from
    rng: int


def _dated_by_code(
    conn: Connection, ranges: list[_Range], where: list[str], params: dict[str, Any], top: int
) -> list[Any]:
    """:func:`_by_code` with a period. A range is not read in code order then: the months of a lot code
    cluster (``MAG-2512-…`` after every ``MAG-2501-…``), so a walk in code order may pass every lot of an
    enterprise before the first of December. Each range takes the creating events of its holders in the
    period from their (enterprise, time) index, and sorts those (see ``Dialect.prefix_ranges``); with a
    form, a range none of whose lots has it is passed over after one probe of the (form, code) index.
    Where the backend stops reading ranges once the page is full (PostgreSQL), that is one statement;
    else ranges are read 2, 4, 8… at a time, as each reads all its matches. (A lot's ``ENT:`` is the
    enterprise of the event that created it: outputs are own lots, for every record, old or new.)"""
    sql = dialect_of(conn)
    probe = ["x.form = :form"] if "form" in params else []
    source = "effective_lots l JOIN events e ON e.position = l.position"
    held = all(r.holders is not None for r in ranges)
    if held:
        # The holders' events of the period first, behind the fence, then their lots by position:
        # given the form, the planner would rather read the range's lots of the form over the whole
        # year from the (form, code) index and join them to the events by a scan (quadratic).
        events = (
            f"SELECT * FROM events e WHERE {sql.member('e.enterprise', 'holders')} "
            f"AND e.occurred_at >= :p_from AND e.occurred_at < :p_to{sql.fence}"
        )
        source = f"({events}) e {sql.lookup_join('effective_lots', 'l', 'l.position = e.position')}"
    out: list[Any] = []
    at, chunk = 0, len(ranges) if sql.ranges_stop_early else 2
    while at < len(ranges) and len(out) < top:
        need, binds = top - len(out), dict(params)
        part = ranges[at : at + chunk]
        q = sql.prefix_ranges(
            _COLS, source, where, "l.lot", [r.prefix for r in part], "l.lot, l.position", need, binds,
            holders=[r.holders or () for r in part] if held else [], probe=probe,
        )  # fmt: skip
        out += _run(conn, q, binds)
        at += chunk
        chunk = min(chunk * 2, MAX_RANGES)
    return out


def _recorded(
    conn: Connection,
    text: str,
    enterprise: str | None,
    where: list[str],
    params: dict[str, Any],
    top: int,
    references: bool,
) -> list[tuple[Any, str]]:
    """Lot codes and references matching ``text``, by position in the log."""
    sql = dialect_of(conn)
    by = "l.position, l.lot"
    # One statement, the prefixes OR'd: each is an indexed range (a bitmap OR of them), and the fence in
    # _select keeps ORDER BY position LIMIT n from walking the whole table instead.
    alts, binds = [], dict(params)
    for i, rng in enumerate(_ranges(conn, text, enterprise)):
        binds |= sql.prefix_params(f"t{i}", rng.prefix)
        alts.append(sql.prefix_match("l.lot", f"t{i}"))
    rows = [(r, "lot") for r in _select(conn, [*where, f"({' OR '.join(alts)})"], binds, by, limit=top)]
    products = _products_matching(conn, text)
    if products:
        named = [*where, sql.member("l.product", "products")]
        binds = {**params, "products": sql.array(products)}
        rows += [(r, "product") for r in _select(conn, named, binds, by, limit=top)]
    if references:
        rows += _by_reference(conn, text, where, params, by, top)
    seen: set[tuple[str, int]] = set()
    unique = []
    # A reference match names why better than a code, a code better than a product: first among equals.
    rank = {"lot": 1, "product": 2}
    for r, why in sorted(rows, key=lambda rw: (rw[0].position, rw[0].lot, rank.get(rw[1], 0))):
        if (r.lot, r.position) not in seen:
            seen.add((r.lot, r.position))
            unique.append((r, why))
    return unique


#: Products compared with the text at most (the distinct names, read from the product index one by one).
MAX_PRODUCTS = 1000
#: A shorter text is a code prefix only: one or two letters are in nearly every product name.
MIN_PRODUCT_TEXT = 3


def _products_matching(conn: Connection, text: str) -> list[str]:
    """The product names (of the first :data:`MAX_PRODUCTS`, in order) that contain ``text``, ignoring
    case; at most :data:`MAX_RANGES` of them; none for a text shorter than :data:`MIN_PRODUCT_TEXT`."""
    key = text.lower()
    if len(key) < MIN_PRODUCT_TEXT:
        return []
    # A loose index scan: one index probe per distinct name, not a read of every lot.
    q = sa.text(
        "WITH RECURSIVE p(product, n) AS (SELECT min(product), 1 FROM lots UNION ALL "
        "SELECT (SELECT min(l.product) FROM lots l WHERE l.product > p.product), p.n + 1 FROM p "
        f"WHERE p.product IS NOT NULL AND p.n < {MAX_PRODUCTS}) "
        "SELECT product FROM p WHERE product IS NOT NULL"
    )
    return [name for (name,) in conn.execute(q) if key in name.lower()][:MAX_RANGES]


def _by_product(
    conn: Connection, products: list[str], where: list[str], params: dict[str, Any], top: int
) -> list[Any]:
    """The first ``top`` lots of ``products``, by code ignoring case: each product's lots read in that
    order from the product index up to ``top``, then merged."""
    sql = dialect_of(conn)
    order = f"{sql.prefix_order('l.lot')}, l.lot, l.position"
    arms, binds = [], dict(params)
    for k, name in enumerate(products):
        binds[f"pr{k}"] = name
        cond = " AND ".join([*where, f"l.product = :pr{k}"])
        arms.append(
            f"SELECT * FROM (SELECT {_COLS} FROM effective_lots l JOIN events e ON e.position = l.position "
            f"WHERE {cond} ORDER BY {order} LIMIT {top}) a{k}"
        )
    return _run(conn, f"SELECT * FROM ({' UNION ALL '.join(arms)}) l ORDER BY {order} LIMIT {top}", binds)


def _select(
    conn: Connection,
    where: list[str],
    params: dict[str, Any],
    by: str,
    *,
    limit: int | None = None,
    fenced: bool = True,
) -> list[Any]:
    inner = (
        f"SELECT {_COLS} FROM effective_lots l JOIN events e ON e.position = l.position "
        f"WHERE {' AND '.join(where) or '1 = 1'}"
    )
    if limit is None:
        q = f"{inner} ORDER BY {by}"
    elif not fenced:
        # Filters only: ORDER BY lot LIMIT n walks the lot index and stops at the page's end.
        q = f"{inner} ORDER BY {by} LIMIT {int(limit)}"
    else:
        # Filter first (from an index), then keep the page's top rows: see Dialect.fence.
        outer_by = by.replace("l.", "s.")
        q = f"SELECT * FROM ({inner}{dialect_of(conn).fence}) s ORDER BY {outer_by} LIMIT {int(limit)}"
    return _run(conn, q, params)


def _run(conn: Connection, q: str, params: dict[str, Any]) -> list[Any]:
    stmt = sa.text(q).columns(occurred_at=UTCDateTime())
    stmt = stmt.bindparams(*(sa.bindparam(k, type_=UTCDateTime()) for k in ("p_from", "p_to") if k in params))
    return list(conn.execute(stmt, params))


def _enterprises(conn: Connection) -> list[str]:
    """Every enterprise that may hold lots: the registry's, and any that submitted (both small tables;
    a lot's holder is the enterprise that reported creating it)."""
    q = "SELECT code FROM enterprises UNION SELECT enterprise FROM submissions"
    return sorted({r[0] for r in conn.execute(sa.text(q))})


#: The fields of ``documents`` that hold the customs entry of an import or export.
_CUSTOMS_ENTRY = ("origin.customs_entry", "destination.customs_entry")


def _by_reference(
    conn: Connection, text: str, where: list[str], params: dict[str, Any], by: str, limit: int
) -> list[tuple[Any, str]]:
    """Lots created or drawn by events whose customs entry or a document number is ``text`` (ignoring
    case): the events from the ``documents`` index, then their lots, the first ``limit`` by ``by``."""
    sql = dialect_of(conn)
    q = sa.text("SELECT position, field FROM documents WHERE number_key = :key ORDER BY position, idx")
    matched: dict[int, str] = {}
    for pos, fld in conn.execute(q, {"key": text.lower()}):
        # The first field of an event that holds the number says why (the customs entry before documents).
        matched.setdefault(int(pos), "customs_entry" if fld in _CUSTOMS_ENTRY else fld)
    if not matched:
        return []
    positions = sql.array(matched)
    # A lot drawn by such an event is named by the number of the first event that drew it.
    draws = f"SELECT i.position, i.lot FROM inputs i WHERE {sql.member('i.position', 'refpos', 'bigint')} "
    why_drawn: dict[str, str] = {}
    for pos, lot in conn.execute(sa.text(draws + "ORDER BY i.position, i.idx"), {"refpos": positions}):
        why_drawn.setdefault(lot, matched[int(pos)])
    # Both lists bound as values (not a subquery), so that each side of the OR is an index lookup.
    lots_of = f"({sql.member('l.position', 'refpos', 'bigint')} OR {sql.member('l.lot', 'reflots')})"
    binds = {**params, "refpos": positions, "reflots": sql.array(why_drawn)}
    out = []
    for r in _select(conn, [*where, lots_of], binds, by, limit=limit):
        out.append((r, matched.get(int(r.position)) or why_drawn.get(r.lot, "documents")))
    return out


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
    any (with or without ``ENT:``, as a search), at most :data:`CANDIDATES` of them; ``difflib`` ranks
    those, on the code alone when ``ref`` has no ``ENT:`` part.
    """
    ref = ref.strip()
    if not ref:
        return []
    with store.reading() as conn:
        codes = _enterprises(conn)
        # Every prefix of ref tried, longest first, as the ranges of one read: its first rows are those
        # of the longest prefix that has any (the rows after them, of shorter ones, are left).
        cuts, ranges = [], []
        cut = len(ref)
        while cut > 0:
            for rng in _ranges(conn, ref[:cut], None, codes):
                cuts.append(cut)
                ranges.append(rng)
            cut = cut * 2 // 3 if cut > 3 else cut - 1
        rows = _code_keys(conn, ranges, [], {}, CANDIDATES, live=False, first=MAX_RANGES) if ranges else []
    longest = cuts[rows[0].rng] if rows else 0
    candidates = list(dict.fromkeys(r.lot for r in rows if cuts[r.rng] == longest))
    if not candidates:
        return []
    whole = ":" in ref
    upper = {(c if whole else c.partition(":")[2]).upper(): c for c in reversed(candidates)}
    close = difflib.get_close_matches(ref.upper(), list(upper), n=n, cutoff=0.6)
    return [upper[c] for c in close if upper[c] != ref]
