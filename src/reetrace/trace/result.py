"""What a trace returns: plain dataclasses with ``to_dict()``, and :func:`as_graph` for the renderers.

JSON of a backward trace (``BackTrace.to_json``)::

    {"direction": "back", "lot": "MAG:M1", "reo_kg": 31.4, "elements": {"Nd": 22.1, ...} | null,
     "origins": [{"kind": "mine", "id": "BO", "share": 0.62, "element_shares": {"Nd": 0.7, ...},
                  "estimated": false, "lots": ["MINE:ORE1"], "detail": {...}}, ...],
     "separation_plants": [{"site": "SEP-P", "enterprise": "SEP", "share": 1.0, "lots": [...]}],
     "enterprises": ["IMP", "MAG", ...], "estimated": false, "element_estimated": false,
     "notes": [...], "findings": [...],
     "nodes": [{"lot", "enterprise", "product", "form", "mass_kg", "reo_kg", "created_by", "depth",
                "share", "origin", "plant", "estimated", "findings"}, ...],
     "edges": [{"src", "dst", "position", "event_type", "process", "mass_kg", "reo_kg", "share",
                "flow"}, ...]}

``share`` of a node is the fraction of the traced lot's REO that passed through it; ``share`` of an
edge is the fraction of ``dst``'s REO that came from ``src`` at that event, ``flow`` the fraction of the
traced lot's REO carried along the edge. A forward trace (``ForwardTrace.to_json``) has ``direction``
``"forward"``, ``nodes`` with ``from_start`` (fraction of the node's REO that comes from the start lot),
``reo_from_start_kg``, ``remaining_kg`` and ``draws``, ``edges`` with ``reo_from_start_kg``, and
``ended`` (where the start lot's REO is now: held, in transit, exported, consumed, lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reetrace.elements import ELEMENTS
from reetrace.trace.select import EventInfo

Finding = dict[str, Any]


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(x, nd)


def element_dict(values: tuple[float, ...] | None) -> dict[str, float] | None:
    if values is None:
        return None
    return {el: round(v, 6) for el, v in zip(ELEMENTS, values, strict=True) if v > 0}


@dataclass(slots=True)
class Origin:
    """Where some of a lot's REO began: a mine, an import entry, a scrap intake, or unexplained."""

    kind: str
    id: str
    share: float
    element_shares: dict[str, float] | None
    estimated: bool
    lots: list[str]
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "id": self.id, "share": round(self.share, 9),
            "element_shares": (
                None if self.element_shares is None
                else {el: round(v, 9) for el, v in self.element_shares.items()}
            ),
            "estimated": self.estimated, "lots": self.lots, "detail": self.detail,
        }  # fmt: skip


@dataclass(slots=True)
class Plant:
    """A separation plant on the paths, and the share of the lot's REO that passed through it."""

    site: str | None
    enterprise: str
    share: float
    lots: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "enterprise": self.enterprise, "share": round(self.share, 9),
                "lots": self.lots}  # fmt: skip


@dataclass(slots=True)
class Node:
    """A lot of the traced subgraph."""

    lot: str
    product: str | None
    form: str | None
    mass_kg: float | None
    reo_kg: float | None
    created_by: EventInfo | None
    depth: int
    share: float
    #: Backward: (kind, id) when the lot is an origin.
    origin: tuple[str, str] | None = None
    #: Site of the separation that created the lot.
    plant: str | None = None
    estimated: bool = False
    findings: list[Finding] = field(default_factory=list)
    # Forward only.
    reo_from_start_kg: float | None = None
    remaining_kg: float | None = None
    draws: list[dict[str, Any]] = field(default_factory=list)

    @property
    def enterprise(self) -> str:
        return self.lot.partition(":")[0]

    def to_dict(self, forward: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lot": self.lot, "enterprise": self.enterprise, "product": self.product,
            "form": self.form, "mass_kg": self.mass_kg, "reo_kg": _r(self.reo_kg),
            "created_by": self.created_by.to_dict() if self.created_by else None,
            "depth": self.depth,
        }  # fmt: skip
        if forward:
            out["from_start"] = round(self.share, 9)
            out["reo_from_start_kg"] = _r(self.reo_from_start_kg)
            out["remaining_kg"] = _r(self.remaining_kg)
            out["draws"] = self.draws
        else:
            out["share"] = round(self.share, 9)
            out["origin"] = {"kind": self.origin[0], "id": self.origin[1]} if self.origin else None
            out["plant"] = self.plant
        out["estimated"] = self.estimated
        out["findings"] = self.findings
        return out


@dataclass(slots=True)
class Edge:
    src: str
    dst: str
    position: int
    event_type: str
    process: str | None
    mass_kg: float
    reo_kg: float
    share: float
    #: Backward: fraction of the traced lot's REO along this edge. Forward: start REO kg along it.
    flow: float

    def to_dict(self, forward: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "src": self.src, "dst": self.dst, "position": self.position,
            "event_type": self.event_type, "process": self.process, "mass_kg": self.mass_kg,
            "reo_kg": _r(self.reo_kg), "share": round(self.share, 9),
        }  # fmt: skip
        out["reo_from_start_kg" if forward else "flow"] = round(self.flow, 9)
        return out


@dataclass
class BackTrace:
    lot: str
    reo_kg: float | None
    elements: dict[str, float] | None
    origins: list[Origin]
    separation_plants: list[Plant]
    enterprises: list[str]
    nodes: list[Node]
    edges: list[Edge]
    estimated: bool
    element_estimated: bool
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    direction = "back"

    def node(self, lot: str) -> Node:
        for n in self.nodes:
            if n.lot == lot:
                return n
        raise KeyError(lot)

    def origin(self, kind: str, id: str) -> Origin:
        for o in self.origins:
            if o.kind == kind and o.id == id:
                return o
        raise KeyError((kind, id))

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": "back", "lot": self.lot, "reo_kg": _r(self.reo_kg),
            "elements": self.elements,
            "origins": [o.to_dict() for o in self.origins],
            "separation_plants": [p.to_dict() for p in self.separation_plants],
            "enterprises": self.enterprises, "estimated": self.estimated,
            "element_estimated": self.element_estimated, "notes": self.notes,
            "findings": self.findings,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }  # fmt: skip


@dataclass(slots=True)
class Ending:
    """Where some of the start lot's REO is now."""

    kind: str  # held | in_transit | exported | consumed | lost | process_loss
    lot: str
    enterprise: str
    reo_kg: float
    share: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lot": self.lot, "enterprise": self.enterprise,
                "reo_kg": round(self.reo_kg, 6), "share": round(self.share, 9),
                **self.detail}  # fmt: skip


@dataclass
class ForwardTrace:
    lot: str
    reo_kg: float | None
    nodes: list[Node]
    edges: list[Edge]
    ended: list[Ending]
    estimated: bool
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    direction = "forward"

    def node(self, lot: str) -> Node:
        for n in self.nodes:
            if n.lot == lot:
                return n
        raise KeyError(lot)

    def ended_by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.ended:
            out[e.kind] = out.get(e.kind, 0.0) + e.reo_kg
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": "forward", "lot": self.lot, "reo_kg": _r(self.reo_kg),
            "ended": [e.to_dict() for e in self.ended],
            "ended_by_kind": {k: round(v, 6) for k, v in self.ended_by_kind().items()},
            "estimated": self.estimated, "notes": self.notes, "findings": self.findings,
            "nodes": [n.to_dict(forward=True) for n in self.nodes],
            "edges": [e.to_dict(forward=True) for e in self.edges],
        }  # fmt: skip
