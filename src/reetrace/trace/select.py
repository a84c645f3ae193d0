"""The subgraph a trace needs, selected in the database with one recursive query per direction.

Nothing here reads the whole graph: the walk starts at one lot and follows ``effective_edges`` (the
edges of events no retraction names) through the ``ix_edges_dst`` / ``ix_edges_src`` indexes, and
the rows for the lots it reaches come back in the *same* statement (``UNION ALL`` of row kinds), so a
trace costs one round trip plus, rarely, a second one for estimates (:func:`event_totals`). The
recursive ``UNION`` keeps each lot once, so a lot reached by many paths is expanded once: the work
follows the size of the lot's ancestry (or descendancy), never the number of paths or the store.

Why an edge's event is its destination's creating event: an edge runs from an input of an event to
an output of the same event (every input × output of a ``process``, the pairs of a ``receive``), and an
output lot is created by that event, so the creating line of ``dst`` (in
``effective_lots``) and the edge share their ``position``. Node rows therefore carry the creating
event; edge rows need only ``(position, src, dst, mass_kg)``.

Backward walks stop *above* a scrap intake lot (a lot of form ``scrap`` drawn by a ``process`` event
with ``process = 'recycling'``, see :mod:`reetrace.trace.back`): its own history is not followed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.elements import ELEMENTS
from reetrace.store.base import Store

_ELS = ", ".join(f'l."{el}"' for el in ELEMENTS)
_NULL_ELS = ", ".join("NULL" for _ in ELEMENTS)
_N_EL = len(ELEMENTS)

# Row layout shared by every row kind (0 node, 1 edge, 2 draw):
#   kind, lot, flag, position, product, form, mass_kg, reo_kg, <17 elements>,
#   type, site, process, enterprise, event_id, counterparty, body, src
_NODE_COLS = f"""
    l.position, l.product, l.form, l.mass_kg, l.reo_kg, {_ELS},
    e.type, e.site, e.process, e.enterprise, e.event_id, e.counterparty,
    CASE WHEN e.type = 'import' THEN (SELECT g.body FROM log g WHERE g.position = e.position) END,
    NULL"""
# The log body (an import's origin) is read by a subquery that runs for import rows only: a join
# would look up, and fetch, the log record of every lot.
_NODE_JOINS = """
    LEFT JOIN effective_lots l ON l.lot = a.lot
    LEFT JOIN events e ON e.position = l.position"""
_EDGE_COLS = f"""
    d.position, NULL, NULL, d.mass_kg, NULL, {_NULL_ELS},
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, d.src"""

_ANCESTORS_CTE = """
WITH RECURSIVE anc(lot, stop) AS (
    SELECT CAST(:lot AS VARCHAR(130)), 0
    UNION
    SELECT d.src,
           CASE WHEN e.process = 'recycling' AND EXISTS (
                    SELECT 1 FROM effective_lots s WHERE s.lot = d.src AND s.form = 'scrap')
                THEN 1 ELSE 0 END
    FROM anc a
    JOIN effective_edges d ON d.dst = a.lot
    JOIN events e ON e.position = d.position
    WHERE a.stop = 0
)"""

ANCESTRY_SQL = f"""{_ANCESTORS_CTE}
SELECT 0, a.lot, a.stop, {_NODE_COLS}
FROM anc a {_NODE_JOINS}
UNION ALL
SELECT 1, d.dst, NULL, {_EDGE_COLS}
FROM (SELECT DISTINCT lot FROM anc WHERE stop = 0) a
JOIN effective_edges d ON d.dst = a.lot
"""

#: The same walk (stopping at scrap intakes) returning only the lots: a benchmark reference.
STOPPED_ANCESTORS_SQL = f"{_ANCESTORS_CTE}\nSELECT DISTINCT lot FROM anc\n"

#: The bare ancestor walk, without stops or joins: the reference the benchmark compares with.
BARE_ANCESTORS_SQL = """
WITH RECURSIVE anc(lot) AS (
    SELECT CAST(:lot AS VARCHAR(130))
    UNION
    SELECT d.src FROM anc a JOIN effective_edges d ON d.dst = a.lot
)
SELECT lot FROM anc
"""

# Forward: the descendants; the other inputs of the events that created them ("siblings": their
# content sets the shares); every edge into a descendant; and every draw on a descendant by its
# holder's own events (a receive of A:L is the custody twin of A's ship, not a second draw,
# docs/contract/events.md).
DESCENDANTS_SQL = f"""
WITH RECURSIVE des(lot) AS (
    SELECT CAST(:lot AS VARCHAR(130))
    UNION
    SELECT d.dst FROM des a JOIN effective_edges d ON d.src = a.lot
),
inn AS (
    SELECT d.position, d.src, d.dst, d.mass_kg
    FROM des a JOIN effective_edges d ON d.dst = a.lot
    WHERE a.lot <> :lot
),
nodes(lot, flag) AS (
    SELECT lot, 1 FROM des
    UNION
    SELECT src, 0 FROM inn WHERE src NOT IN (SELECT lot FROM des)
)
SELECT 0, a.lot, a.flag, {_NODE_COLS}
FROM nodes a {_NODE_JOINS}
UNION ALL
SELECT 1, d.dst, NULL, {_EDGE_COLS}
FROM inn d
UNION ALL
SELECT 2, i.lot, NULL, i.position, NULL, NULL, i.mass_kg, NULL, {_NULL_ELS},
       e.type, e.site, e.process, e.enterprise, e.event_id, e.counterparty,
       CASE WHEN e.type = 'export' THEN (SELECT g.body FROM log g WHERE g.position = e.position) END,
       NULL
FROM des a
JOIN effective_inputs i ON i.lot = a.lot
JOIN events e ON e.position = i.position
WHERE e.type <> 'receive'
"""

_TOTALS_EL = ", ".join(f'sum("{el}")' for el in ELEMENTS)
#: Output totals of some events (all their outputs, not only those in the subgraph): the basis of the
#: estimates for inputs of unknown content. Only asked for when an estimate is needed.
TOTALS_SQL = f"""
SELECT position, sum(mass_kg), sum(reo_kg),
       sum(CASE WHEN "La" IS NOT NULL THEN reo_kg ELSE 0 END), {_TOTALS_EL}
FROM lots WHERE position IN :positions
GROUP BY position
"""

#: Does anything in the store mention this lot at all?
MENTIONED_SQL = """
SELECT 1 FROM lots WHERE lot = :lot
UNION ALL SELECT 1 FROM inputs WHERE lot = :lot
"""


@dataclass(slots=True)
class EventInfo:
    """The event that created a lot (or drew from one)."""

    position: int
    type: str
    event_id: str
    enterprise: str
    site: str | None
    process: str | None
    counterparty: str | None
    #: ``origin`` of an import, ``destination`` of an export (from the log record); else empty.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "position": self.position, "type": self.type, "event_id": self.event_id,
            "enterprise": self.enterprise, "site": self.site,
        }  # fmt: skip
        if self.process is not None:
            out["process"] = self.process
        if self.counterparty is not None:
            out["counterparty"] = self.counterparty
        out.update(self.extra)
        return out


@dataclass(slots=True)
class LotRow:
    """A lot of the subgraph, with its effective creating line when there is one."""

    key: str
    created: EventInfo | None = None
    product: str | None = None
    form: str | None = None
    mass_kg: float | None = None
    reo_kg: float | None = None
    #: REO-equivalent kg per element in :data:`ELEMENTS` order; None when the profile is unknown.
    elements: tuple[float, ...] | None = None
    #: Backward: drawn as scrap by a recycling process (the walk stopped here).
    scrap_intake: bool = False
    #: Forward: a descendant of the start (False: another input of a descendant's creating event).
    descendant: bool = True

    @property
    def enterprise(self) -> str:
        return self.key.partition(":")[0]

    @property
    def known(self) -> bool:
        """Its content is on record (an effective creating line exists)."""
        return self.created is not None and self.mass_kg is not None and self.mass_kg > 0


@dataclass(frozen=True, slots=True)
class EdgeRow:
    position: int
    src: str
    dst: str
    mass_kg: float


@dataclass(frozen=True, slots=True)
class Draw:
    """What one event of the holder drew from a lot (forward traces)."""

    lot: str
    mass_kg: float
    event: EventInfo


@dataclass
class Subgraph:
    root: str
    lots: dict[str, LotRow]
    edges: list[EdgeRow]
    draws: list[Draw] = field(default_factory=list)


def _record_extra(body: Any, key: str) -> dict[str, Any]:
    if body is None:
        return {}
    frame = orjson.loads(bytes(body))
    value = frame.get("record", {}).get(key)
    return dict(value) if isinstance(value, dict) else {}


_B = 8 + _N_EL  # first event column


def _event(row: Any, extra_key: str) -> EventInfo | None:
    b = _B
    if row[b] is None:
        return None
    body = row[b + 6]
    return EventInfo(
        int(row[3]),
        row[b],
        row[b + 4],
        row[b + 3],
        row[b + 1],
        row[b + 2],
        row[b + 5],
        _record_extra(body, extra_key) if body is not None else {},
    )


def _lot(row: Any, *, backward: bool) -> LotRow:
    if row[3] is None:
        return LotRow(row[1], scrap_intake=backward and bool(row[2]), descendant=backward or bool(row[2]))
    els = row[8:_B]
    return LotRow(
        row[1], _event(row, "origin" if backward else "destination"), row[4], row[5],
        float(row[6]), float(row[7]), tuple(els) if els[0] is not None else None,
        backward and bool(row[2]), backward or bool(row[2]),
    )  # fmt: skip


def _merge(lots: dict[str, LotRow], lot: LotRow) -> None:
    prior = lots.get(lot.key)
    if prior is None:
        lots[lot.key] = lot
        return
    # A lot reached both as a scrap intake and along another path is an intake wherever it is met.
    prior.scrap_intake = prior.scrap_intake or lot.scrap_intake


def ancestry(conn: Connection, lot: str) -> Subgraph:
    """The lot, every ancestor up to the origins (and scrap intakes), and the edges between them."""
    lots: dict[str, LotRow] = {}
    edges: list[EdgeRow] = []
    for row in conn.execute(sa.text(ANCESTRY_SQL), {"lot": lot}).fetchall():
        if row[0] == 0:
            _merge(lots, _lot(row, backward=True))
        else:
            edges.append(EdgeRow(int(row[3]), row[-1], row[1], float(row[6])))
    return Subgraph(lot, lots, edges)


def descendants(conn: Connection, lot: str) -> Subgraph:
    """The lot, every descendant, the other inputs of their events, the edges, and the draws."""
    lots: dict[str, LotRow] = {}
    edges: list[EdgeRow] = []
    draws: list[Draw] = []
    for row in conn.execute(sa.text(DESCENDANTS_SQL), {"lot": lot}).fetchall():
        kind = row[0]
        if kind == 0:
            _merge(lots, _lot(row, backward=False))
        elif kind == 1:
            edges.append(EdgeRow(int(row[3]), row[-1], row[1], float(row[6])))
        else:
            ev = _event(row, "destination")
            assert ev is not None
            draws.append(Draw(row[1], float(row[6]), ev))
    return Subgraph(lot, lots, edges, draws)


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over all output lines of one event."""

    mass_kg: float
    reo_kg: float
    #: REO of the outputs whose element profile is known, and their element kg (ELEMENTS order).
    profiled_reo_kg: float
    elements: tuple[float, ...]


def event_totals(conn: Connection, positions: Iterable[int]) -> dict[int, Totals]:
    wanted = sorted(set(positions))
    if not wanted:
        return {}
    q = sa.text(TOTALS_SQL).bindparams(sa.bindparam("positions", expanding=True))
    out: dict[int, Totals] = {}
    for row in conn.execute(q, {"positions": wanted}):
        els = tuple(float(x or 0.0) for x in row[4:])
        out[int(row[0])] = Totals(float(row[1]), float(row[2]), float(row[3] or 0.0), els)
    return out


def mentioned(conn: Connection, lot: str) -> bool:
    return conn.execute(sa.text(MENTIONED_SQL), {"lot": lot}).first() is not None


def check_ref(lot: str) -> str:
    """``ENT:LOT`` as typed (spaces around it dropped); ValueError for anything else."""
    ent, sep, code = lot.strip().partition(":")
    if not sep or not ent or not code:
        raise ValueError(f"{lot!r} is not a lot reference: write ENT:LOT")
    return f"{ent}:{code}"


@contextmanager
def connection(source: Store | Connection) -> Iterator[Connection]:
    """A read connection: ``source`` itself, or a new one of the store (closed afterwards)."""
    if isinstance(source, Connection):
        yield source
    else:
        with source.reading() as conn:
            yield conn
