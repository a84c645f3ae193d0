"""Past the customs entry: a backward trace continued into a foreign supplier's *declared* chain.

Our records stop at an ``import`` event; its origin is the customs entry. When a supplier's EPCIS
document has been attached to that entry (``reetrace epcis attach``, table ``foreign_links``), the
import origin is split along the supplier's declaration:

- the walk starts at the lots the supplier shipped (custody events with bizStep ``shipping`` or
  ``departing``; failing those, the outputs no declared transformation consumed), weighted by their
  declared masses;
- it goes up each declared transformation, an output's share split over its inputs by the **declared
  gross mass** drawn (a foreign document gives no REO content; all EPCIS says is that each input may
  have contributed to each output);
- it stops at a lot commissioned at a location (the shape of a mine's first record): the origin
  ``foreign_mine``, its id the location, with the import entry it came through.

What the declaration does not reach stays with the ``import`` origin. Element shares are the import
origin's, split in the same proportions (the document says nothing about elements). Every such origin
and the trace's notes say it: declared by the supplier, not verified by any Chinese record.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.messages import M_, N_, Message
from reetrace.store.schema import foreign_links, log
from reetrace.trace.result import BackTrace, Origin

NOT_VERIFIED = N_("declared by the supplier, not verified by any Chinese record")
KIND = "foreign_mine"
SHIPPING = frozenset({"shipping", "departing"})


@dataclass
class Declared:
    """The supplier's chain behind one import entry, as shares of what was shipped."""

    #: location -> (share of the shipment, lots commissioned there that it reaches)
    mines: dict[str, tuple[float, list[str]]] = field(default_factory=dict)
    #: lots of the supplier's chain that carry some of the shipment
    via: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    cycle: bool = False


def _has_cycle(up: dict[str, list[tuple[str, float]]]) -> bool:
    users: dict[str, list[str]] = defaultdict(list)
    pending: dict[str, int] = defaultdict(int)
    for dst, ins in up.items():
        for src, _ in ins:
            users[src].append(dst)
            pending[dst] += 1
            pending.setdefault(src, 0)
    ready = [x for x, n in pending.items() if n == 0]
    seen = 0
    while ready:
        x = ready.pop()
        seen += 1
        for y in users[x]:
            pending[y] -= 1
            if pending[y] == 0:
                ready.append(y)
    return seen < len(pending)


def _declared(rows: list[tuple[int, str, str | None, str, float, str | None, str | None]]) -> Declared:
    up: dict[str, list[tuple[str, float]]] = defaultdict(list)
    origin_at: dict[str, str] = {}
    shipped: dict[str, float] = defaultdict(float)
    consumed: set[str] = set()
    for _pos, kind, src, lot, kg, location, step in rows:
        if kind == "edge" and src is not None:
            up[lot].append((src, kg))
            consumed.add(src)
        elif kind == "origin" and location is not None:
            origin_at.setdefault(lot, location)
        elif kind == "custody" and step in SHIPPING:
            shipped[lot] += kg
    if _has_cycle(up):
        return Declared(cycle=True)
    # What left for China is what was shipped and not transformed afterwards (an internal move is not).
    shipped = defaultdict(float, {lot: kg for lot, kg in shipped.items() if lot not in consumed})
    if not shipped:
        sinks = [lot for lot in up if lot not in consumed] or list(origin_at)
        for lot in sinks:
            shipped[lot] = 1.0
    total = sum(shipped.values())
    out = Declared()
    if total <= 0:
        return out
    reach: set[str] = set()
    stack = list(shipped)
    while stack:
        x = stack.pop()
        if x in reach:
            continue
        reach.add(x)
        if x not in origin_at:
            stack.extend(src for src, _ in up.get(x, ()))
    pending = dict.fromkeys(reach, 0)
    for x in reach:
        if x not in origin_at:
            for src, _ in up.get(x, ()):
                pending[src] += 1
    w = defaultdict(float, {lot: kg / total for lot, kg in shipped.items()})
    ready = sorted(x for x, n in pending.items() if n == 0)
    done = 0
    mines: dict[str, tuple[float, list[str]]] = {}
    while ready:
        x = ready.pop()
        done += 1
        if x in origin_at:
            if w[x] > 0:
                share, lots = mines.get(origin_at[x], (0.0, []))
                mines[origin_at[x]] = (share + w[x], [*lots, x])
            continue
        ins = up.get(x, ())
        drawn = sum(kg for _, kg in ins)
        for src, kg in ins:
            if drawn > 0:
                w[src] += w[x] * kg / drawn
            pending[src] -= 1
            if pending[src] == 0:
                ready.append(src)
    if done < len(reach):
        return Declared(cycle=True)
    out.mines = {loc: (s, sorted(lots)) for loc, (s, lots) in mines.items()}
    out.via = sorted(x for x in reach if w[x] > 0)
    return out


def _links(
    conn: Connection, entries: list[str]
) -> dict[str, list[tuple[int, str, str | None, str, float, str | None, str | None]]]:
    q = (
        sa.select(
            foreign_links.c.import_entry, foreign_links.c.position, foreign_links.c.kind, foreign_links.c.src,
            foreign_links.c.lot, foreign_links.c.mass_kg, foreign_links.c.location, foreign_links.c.step,
        )
        .where(foreign_links.c.import_entry.in_(entries))
        .order_by(foreign_links.c.position, foreign_links.c.idx)
    )  # fmt: skip
    out: dict[str, list[tuple[int, str, str | None, str, float, str | None, str | None]]] = defaultdict(list)
    for entry, pos, kind, src, lot, kg, location, step in conn.execute(q):
        out[entry].append((int(pos), kind, src, lot, float(kg), location, step))
    return out


def _sources(conn: Connection, positions: set[int]) -> dict[int, str]:
    q = sa.select(log.c.position, log.c.body).where(log.c.position.in_(sorted(positions)))
    return {int(p): str(orjson.loads(bytes(b))["record"]["source"]) for p, b in conn.execute(q)}


def _scaled(o: Origin, s: float) -> dict[str, float] | None:
    return None if o.element_shares is None else {el: v * s for el, v in o.element_shares.items()}


def extend_with_declared(conn: Connection, trace: BackTrace) -> BackTrace:
    """Split each import origin whose entry has a declared foreign chain; add the notes. In place."""
    entries = sorted({o.id for o in trace.origins if o.kind == "import"})
    if not entries:
        return trace
    links = _links(conn, entries)
    if not links:
        return trace
    names = _sources(conn, {row[0] for rows in links.values() for row in rows})
    origins: list[Origin] = []
    mines: dict[str, Origin] = {}
    for o in trace.origins:
        rows = links.get(o.id) if o.kind == "import" else None
        if not rows:
            origins.append(o)
            continue
        chain = _declared(rows)
        sources = sorted({names[r[0]] for r in rows})
        if chain.cycle:
            trace.notes.append(M_("the chain declared behind customs entry {entry} ({sources}) has a cycle: "
                                  "not followed", entry=o.id, sources=", ".join(sources)))  # fmt: skip
            origins.append(o)
            continue
        whole, reached = o.share, 0.0
        for location, (s, lots) in chain.mines.items():
            reached += s
            m = mines.get(location)
            if m is None:
                m = mines[location] = Origin(
                    KIND, location, 0.0, _scaled(o, 0.0), o.estimated, [],
                    {"import_entries": [], "importer": o.detail.get("enterprise"),
                     "customs_country": o.detail.get("country"), "declared_by": [], "declared_lots": [],
                     "share_basis": "declared mass", "verified": False, "note": NOT_VERIFIED},
                )  # fmt: skip
                origins.append(m)
            m.share += o.share * s
            if m.element_shares is not None and o.element_shares is not None:
                for el, v in o.element_shares.items():
                    m.element_shares[el] = m.element_shares.get(el, 0.0) + v * s
            m.estimated = m.estimated or o.estimated
            m.lots = sorted({*m.lots, *o.lots})
            d = m.detail
            d["import_entries"] = sorted({*d["import_entries"], o.id})
            d["declared_by"] = sorted({*d["declared_by"], *sources})
            d["declared_lots"] = sorted({*d["declared_lots"], *lots})
        rest = 1.0 - reached
        if rest > 1e-9:
            o.share *= rest
            o.element_shares = _scaled(o, rest)
            o.detail["declared_chain"] = "followed, no declared mine for the rest"
            origins.append(o)
        found = ", ".join(
            f"{loc} {s:.1%}" for loc, (s, _) in sorted(chain.mines.items(), key=lambda m: -m[1][0])
        )
        told: dict[str, Any] = {
            "share": whole, "entry": o.id, "sources": ", ".join(sources), "mines": found or M_("none"),
            "verified": Message(NOT_VERIFIED),
        }  # fmt: skip
        trace.notes.append(
            M_("{share:.1%} of the REO goes past customs entry {entry} into the chain declared in {sources}: "
               "to declared mine(s) {mines}, {rest:.1%} to lots it declares no origin for; {verified}",
               rest=rest, **told)
            if rest > 1e-9
            else M_("{share:.1%} of the REO goes past customs entry {entry} into the chain declared in "
                    "{sources}: to declared mine(s) {mines}; {verified}", **told)
        )  # fmt: skip
    trace.origins = sorted(origins, key=lambda x: (-x.share, x.kind, x.id))
    return trace


__all__ = ["KIND", "NOT_VERIFIED", "Declared", "extend_with_declared"]
