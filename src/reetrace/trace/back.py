"""Backward trace: from a lot up to every origin, with each origin's share of its REO and elements.

**Origins.** Walking upstream over the effective graph, the walk stops at a lot that is

- ``mine`` — created by an ``extract`` event; id: the event's site (the mine);
- ``import`` — created by an ``import`` event; id: the customs entry of its ``origin``;
- ``scrap`` — a *scrap intake lot*, id: that lot. A lot is a scrap intake when (a) it has form
  ``scrap`` and some effective ``process`` event with ``process = 'recycling'`` draws it (recycled
  material is an origin of its own: the walk does not follow the scrap's earlier history), or (b) it
  has form ``scrap`` and was created by a ``receive`` whose source lot(s) feeding it (its edges) have no
  effective creating event (scrap taken in from outside the graph: a workshop, a dealer, an end user);
- ``unexplained`` — id: the lot. A lot drawn or received that has no effective creating event (the
  signature of illegal material), and also a lot created by an ``adjust`` (a stock gain: material
  that appeared from nowhere).

**Shares.** At each event the share of an output that comes from an input is the input's drawn REO
over the total drawn REO of the inputs feeding that output — all inputs of a ``process``, the one paired
input of a ``receive`` (:mod:`reetrace.trace.shares`); shares multiply along a path and add over paths.
Rather than pushing a vector of origin shares down from every origin (its size would be
lots × origins), the trace pulls one number up from the lot: ``w(lot) = 1`` and, for each input ``i``
feeding ``y`` at the event that created it, ``w(i) += w(y) × share(i → y)``, visiting lots in reverse
topological order so that every ``y`` is complete before its inputs. ``w`` of an origin lot is its
share of the traced lot's REO; ``w`` of any lot is the fraction of the traced REO that passed through
it. The same pass carries one weight per element (element kg instead of REO kg) and ``w_est``, the part
of ``w`` that crossed an estimated share. It is linear in the edges of the subgraph, iterative (no
recursion limit on deep chains), and origins with the same (kind, id) add up.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from reetrace.elements import ELEMENTS
from reetrace.errors import LotNotFound
from reetrace.messages import M_
from reetrace.store.base import Store
from reetrace.trace import select
from reetrace.trace.declared import extend_with_declared
from reetrace.trace.findings import FindingIndex, FindingsFor
from reetrace.trace.order import topological
from reetrace.trace.result import BackTrace, Edge, Node, Origin, Plant, element_dict
from reetrace.trace.select import EventInfo, LotRow, Subgraph, ancestry, check_ref, connection, mentioned
from reetrace.trace.shares import Flows, event_flows, unique


def _origin_of(lot: LotRow, inputs: list[str], lots: dict[str, LotRow]) -> tuple[str, str, dict[str, Any]]:
    """(kind, id, detail) when ``lot`` is an origin, else ("", "", {})."""
    ev = lot.created
    if lot.scrap_intake:
        return "scrap", lot.key, {"enterprise": lot.enterprise, "reason": "drawn by recycling"}
    if ev is None:
        return "unexplained", lot.key, {"enterprise": lot.enterprise,
                                        "reason": "no effective creating event"}  # fmt: skip
    if ev.type == "extract":
        return "mine", ev.site or lot.key, {"enterprise": ev.enterprise}
    if ev.type == "import":
        o = ev.extra
        detail = {"enterprise": ev.enterprise, "site": ev.site, "country": o.get("country"),
                  "hs_code": o.get("hs_code")}  # fmt: skip
        return "import", str(o.get("customs_entry") or lot.key), detail
    if ev.type == "adjust":
        return "unexplained", lot.key, {"enterprise": lot.enterprise,
                                        "reason": "created by a stock gain (adjust)"}  # fmt: skip
    if (
        ev.type == "receive"
        and lot.form == "scrap"
        and inputs
        and all(not (src in lots and lots[src].known) for src in inputs)
    ):
        return "scrap", lot.key, {"enterprise": lot.enterprise,
                                  "reason": "received from outside the graph",
                                  "from": sorted(inputs)}  # fmt: skip
    if not inputs:
        # A process or receive always has inputs; if none is effective the lot is unexplained.
        return "unexplained", lot.key, {"enterprise": lot.enterprise,
                                        "reason": f"{ev.type} event with no effective input"}  # fmt: skip
    return "", "", {}


def trace_back(source: Store | Connection, lot: str, *, findings_for: FindingsFor | None = None) -> BackTrace:
    """Trace ``lot`` (``ENT:LOT``) back to its origins over the effective graph."""
    with connection(source) as conn:
        return _trace_back(conn, lot, findings_for)


def _trace_back(conn: Connection, lot: str, findings_for: FindingsFor | None) -> BackTrace:
    lot = check_ref(lot)
    sub = ancestry(conn, lot)
    root = sub.lots[lot]
    if root.created is None and not mentioned(conn, lot):
        raise LotNotFound(f"no lot {lot} in the store: no event creates, draws or receives it")
    # Past an import's customs entry, a foreign supplier's declared chain if one is attached.
    return extend_with_declared(conn, _analyse(conn, sub, findings_for))


@dataclass
class _Walk:
    """The subgraph once the walk stops at origins, and the weights of the backward pass."""

    sub: Subgraph
    origin_of: dict[str, tuple[str, str, dict[str, Any]]]
    edges: list[select.EdgeRow]
    #: Output lot -> the flow into it.
    flows: Flows
    #: Lots, the traced lot first and every lot before its inputs.
    order: list[str]
    el_idx: list[int]
    w: dict[str, float] = field(default_factory=dict)
    w_est: dict[str, float] = field(default_factory=dict)
    we: dict[str, list[float]] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    #: Events whose element estimate reaches the traced lot's elements.
    el_estimated: set[int] = field(default_factory=set)


def _analyse(conn: Connection, sub: Subgraph, findings_for: FindingsFor | None) -> BackTrace:
    walk = _stop_at_origins(conn, sub)
    _pull_weights(walk)
    return _result(conn, walk, findings_for)


def _stop_at_origins(conn: Connection, sub: Subgraph) -> _Walk:
    lots = sub.lots
    inputs: dict[str, list[str]] = defaultdict(list)
    for e in sub.edges:
        inputs[e.dst].append(e.src)
    # Which lots are origins, and which remain upstream of the traced lot once the walk stops at
    # origins (a rule (b) scrap intake prunes what the SQL walk fetched above it).
    origin_of: dict[str, tuple[str, str, dict[str, Any]]] = {}
    keep = {sub.root}
    todo = deque([sub.root])
    while todo:
        key = todo.popleft()
        kind, oid, detail = _origin_of(lots[key], inputs.get(key, []), lots)
        if kind:
            origin_of[key] = (kind, oid, detail)
            continue
        for src in inputs[key]:
            if src not in keep:
                keep.add(src)
                todo.append(src)

    edges = [e for e in sub.edges if e.dst in keep and e.dst not in origin_of]
    order = topological([sub.root], [(e.src, e.dst) for e in edges])
    order.reverse()

    root = lots[sub.root]
    el_idx = [j for j, v in enumerate(root.elements or ()) if v > 0]
    events: dict[int, EventInfo] = {}
    for e in edges:
        ev = lots[e.dst].created
        assert ev is not None
        events[e.position] = ev
    flows = event_flows(conn, edges, lots, events, el_idx)
    return _Walk(sub, origin_of, edges, flows, order, el_idx)


def _pull_weights(walk: _Walk) -> None:
    """The backward pass of the module docstring: w, w_est, per-element w, and depth."""
    order, lots, k = walk.order, walk.sub.lots, len(walk.el_idx)
    w = walk.w = dict.fromkeys(order, 0.0)
    w_est = walk.w_est = dict.fromkeys(order, 0.0)
    we = walk.we = {key: [0.0] * k for key in order}
    depth = walk.depth = dict.fromkeys(order, 0)
    w[walk.sub.root] = 1.0
    we[walk.sub.root] = [1.0] * k
    for y in order:
        created = lots[y].created
        if y in walk.origin_of or created is None:
            continue
        flow = walk.flows.get(y)
        if flow is None:
            continue
        wy, we_y, dy = w[y], we[y], depth[y] + 1
        carried = wy if flow.estimated else w_est[y]
        if flow.element_estimated(we_y):
            walk.el_estimated.add(created.position)
        el_share = flow.element_share
        for src, s in flow.share.items():
            w[src] += wy * s
            w_est[src] += carried * s
            if depth[src] < dy:
                depth[src] = dy
            if el_share is not None:
                acc, es = we[src], el_share[src]
                for j in range(k):
                    acc[j] += we_y[j] * es[j]


def _origins(walk: _Walk) -> list[Origin]:
    names = [ELEMENTS[j] for j in walk.el_idx]
    origins: dict[tuple[str, str], Origin] = {}
    for key, (kind, oid, detail) in walk.origin_of.items():
        o = origins.get((kind, oid))
        if o is None:
            o = origins[(kind, oid)] = Origin(
                kind, oid, 0.0, dict.fromkeys(names, 0.0) if names else None, False, [],
                {k: v for k, v in detail.items() if v is not None and k != "from"},
            )  # fmt: skip
        wk = walk.w[key]
        o.share += wk
        o.estimated = o.estimated or walk.w_est[key] > 1e-12 * max(wk, 1e-300)
        o.lots.append(key)
        if o.element_shares is not None:
            for el, x in zip(names, walk.we[key], strict=True):
                o.element_shares[el] += x
    for o in origins.values():
        o.lots.sort()
    return sorted(origins.values(), key=lambda o: (-o.share, o.kind, o.id))


def _plants(walk: _Walk) -> tuple[list[Plant], dict[str, str]]:
    """Separation plants with the share of the traced REO through them; lot -> plant site."""
    plants: dict[tuple[str | None, str], Plant] = {}
    plant_of: dict[str, str] = {}
    for flow in unique(walk.flows):
        ev = flow.event
        if ev.type == "process" and ev.process == "separation":
            p = plants.setdefault((ev.site, ev.enterprise), Plant(ev.site, ev.enterprise, 0.0, []))
            for lot in sorted(flow.outputs):
                p.share += walk.w[lot]
                p.lots.append(lot)
                plant_of[lot] = ev.site or ev.enterprise
    return sorted(plants.values(), key=lambda p: (-p.share, p.site or "")), plant_of


def _result(conn: Connection, walk: _Walk, findings_for: FindingsFor | None) -> BackTrace:
    lots, flows = walk.sub.lots, walk.flows
    root = lots[walk.sub.root]
    origins = _origins(walk)
    plants, plant_of = _plants(walk)

    positions = {c.position for k in walk.order if (c := lots[k].created) is not None}
    findings = findings_for(conn, set(walk.order), positions) if findings_for is not None else []
    touching = FindingIndex(findings)
    nodes: list[Node] = []
    for key in walk.order:
        lot = lots[key]
        created = lot.created
        org = walk.origin_of.get(key)
        pos = created.position if created is not None else None
        nodes.append(Node(
            lot=key, product=lot.product, form=lot.form, mass_kg=lot.mass_kg, reo_kg=lot.reo_kg,
            created_by=created, depth=walk.depth[key], share=walk.w[key],
            origin=(org[0], org[1]) if org else None, plant=plant_of.get(key),
            estimated=pos is not None and (
                (key in flows and flows[key].estimated) or pos in walk.el_estimated),
            findings=touching.of(key, (pos,) if pos is not None else ()),
        ))  # fmt: skip

    edges: list[Edge] = []
    for e in walk.edges:
        ef = flows[e.dst]
        s = ef.share[e.src]
        edges.append(Edge(
            e.src, e.dst, e.position, ef.event.type, ef.event.process, e.mass_kg,
            ef.reo[e.src], s, walk.w[e.dst] * s,
        ))  # fmt: skip

    ents = {lots[k].enterprise for k in walk.order} | {f.event.enterprise for f in flows.values()}
    return BackTrace(
        lot=walk.sub.root, reo_kg=root.reo_kg, elements=element_dict(root.elements),
        origins=origins, separation_plants=plants, enterprises=sorted(ents),
        nodes=nodes, edges=edges,
        estimated=any(o.estimated for o in origins),
        element_estimated=bool(walk.el_estimated),
        notes=_notes(walk, origins, root), findings=findings,
    )  # fmt: skip


def _positions(positions: list[int]) -> str:
    head = ", ".join(str(p) for p in positions[:10])
    return head + (" …" if len(positions) > 10 else "")


def _notes(walk: _Walk, origins: list[Origin], root: LotRow) -> list[str]:
    notes: list[str] = []
    reached = {c.position for k in walk.order if walk.w[k] > 0 and (c := walk.sub.lots[k].created)}
    est = sorted({f.event.position for f in unique(walk.flows) if f.estimated} & reached)
    if est:
        notes.append(M_("REO shares estimated at events {positions}: an input's content is not on record "
                        "(estimated from the event's outputs)", positions=_positions(est)))  # fmt: skip
    if walk.el_estimated:
        notes.append(M_("element shares estimated at events {positions}: an input's element profile is not "
                        "on record", positions=_positions(sorted(walk.el_estimated))))  # fmt: skip
    if not walk.el_idx:
        notes.append(M_("element shares unknown: {lot} has no element profile on record", lot=root.key))
    unexplained = [o for o in origins if o.kind == "unexplained"]
    if unexplained:
        share = sum(o.share for o in unexplained)
        notes.append(
            M_(
                "{share:.1%} of the REO comes from {lots} unexplained lot(s)",
                share=share,
                lots=len(unexplained),
            )
        )
    return notes
