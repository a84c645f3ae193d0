"""Forward trace: from a lot to every descendant, who holds each now, and where its REO ended.

The fraction of a descendant's REO that comes from the start lot is the backward share read the
other way: ``f(start) = 1`` and, in topological order, ``f(y) = Σ share(i → y) × f(i)`` over the inputs
of the event that created ``y`` (inputs that do not descend from the start count 0, but their content
still sets the shares, so the query fetches them too). ``f(y) × REO(y)`` is the start lot's REO inside
``y``.

Where that REO is now, per descendant ``y`` and per kg of ``y`` (``f(y) × REO(y) / mass(y)``):

- ``held`` — mass not drawn by the holder's own events (``process``, ``ship``, ``export``,
  ``consume``, ``adjust``): still with ``y``'s enterprise;
- ``in_transit`` — shipped and not (yet) received: a ``receive`` of ``y`` by the counterparty is an edge
  to its own new lot and carries the material on; what was shipped beyond what was received is in
  transit (and what was received beyond what was shipped counts as shipped: custody left anyway);
- ``exported`` (country, customs entry), ``consumed``, ``lost`` (an ``adjust`` loss);
- ``process_loss`` — at each transformation, the start REO drawn minus the start REO in its outputs
  (negative when an output holds more than its inputs: an audit finding).

With consistent records these add up to the start lot's REO. An over-drawn lot is held at 0 and noted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.engine import Connection

from reetrace.errors import LotNotFound
from reetrace.messages import M_
from reetrace.store.base import Store
from reetrace.trace.findings import FindingIndex, FindingsFor
from reetrace.trace.order import topological
from reetrace.trace.result import Edge, Ending, ForwardTrace, Node
from reetrace.trace.select import Draw, EventInfo, Subgraph, check_ref, connection, descendants, mentioned
from reetrace.trace.shares import Flows, event_flows, unique

_OUT_KINDS = {"export": "exported", "consume": "consumed", "adjust": "lost"}


def trace_forward(
    source: Store | Connection, lot: str, *, findings_for: FindingsFor | None = None
) -> ForwardTrace:
    """Trace ``lot`` (``ENT:LOT``) forward to every descendant over the effective graph."""
    with connection(source) as conn:
        return _trace_forward(conn, lot, findings_for)


def _trace_forward(conn: Connection, lot: str, findings_for: FindingsFor | None) -> ForwardTrace:
    lot = check_ref(lot)
    sub = descendants(conn, lot)
    if sub.lots[lot].created is None and not mentioned(conn, lot):
        raise LotNotFound(f"no lot {lot} in the store: no event creates, draws or receives it")
    return _analyse(conn, sub, findings_for)


def _analyse(conn: Connection, sub: Subgraph, findings_for: FindingsFor | None) -> ForwardTrace:
    lots = sub.lots
    start = lots[sub.root]
    des = [k for k, v in lots.items() if v.descendant]
    events: dict[int, EventInfo] = {}
    for e in sub.edges:
        created = lots[e.dst].created
        assert created is not None
        events[e.position] = created
    flows = event_flows(conn, sub.edges, lots, events, ())

    order = topological(des, [(e.src, e.dst) for e in sub.edges if lots[e.src].descendant])

    notes: list[str] = []
    estimated = not start.known
    if start.known:
        assert start.reo_kg is not None
        start_reo: float | None = start.reo_kg
    else:
        start_reo = None
        notes.append(M_("{lot} has no creating event on record: its content is estimated", lot=sub.root))

    f: dict[str, float] = {sub.root: 1.0}
    depth: dict[str, int] = {sub.root: 0}
    for y in order:
        if y == sub.root:
            continue
        created = lots[y].created
        assert created is not None
        flow = flows[y]
        f[y] = sum(s * f.get(src, 0.0) for src, s in flow.share.items())
        depth[y] = 1 + max(depth[src] for src in flow.share if src in depth)
        estimated = estimated or (flow.estimated and any(src in f for src in flow.share))

    per_kg = _start_reo_per_kg(sub, flows, f)
    draws_of: dict[str, list[Draw]] = defaultdict(list)
    for d in sub.draws:
        draws_of[d.lot].append(d)
    received: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for flow in unique(flows):
        if flow.event.type == "receive":
            # A lot split on arrival is one flow per part, each with its part of the drawn mass.
            for src, kg in flow.drawn.items():
                received[src][flow.event.position] += kg

    total = (
        start_reo
        if start_reo is not None
        else sum(per_kg[sub.root] * d.mass_kg for d in draws_of[sub.root])
        + per_kg[sub.root] * sum(received[sub.root].values())
    )
    ended: list[Ending] = []
    remaining: dict[str, float | None] = {}
    for y in order:
        remaining[y] = _endings(y, lots[y].mass_kg, per_kg[y], draws_of[y], received[y], ended, notes)
    ended.extend(_process_losses(sub, flows, f, per_kg))
    for end in ended:
        end.share = end.reo_kg / total if total else 0.0
    ended.sort(key=lambda end: (-end.reo_kg, end.kind, end.lot))

    positions = {c.position for y in order if (c := lots[y].created) is not None}
    positions |= {d.event.position for d in sub.draws}
    findings = findings_for(conn, set(order), positions) if findings_for is not None else []
    touching = FindingIndex(findings)
    nodes = []
    for y in order:
        lot = lots[y]
        created = lot.created
        own = {created.position} if created else set()
        own |= {d.event.position for d in draws_of[y]}
        nodes.append(Node(
            lot=y, product=lot.product, form=lot.form, mass_kg=lot.mass_kg, reo_kg=lot.reo_kg,
            created_by=created, depth=depth[y], share=f[y],
            reo_from_start_kg=(per_kg[y] * lot.mass_kg) if lot.mass_kg else None,
            remaining_kg=remaining[y],
            draws=[_draw_json(d) for d in draws_of[y]],
            estimated=bool(created and y in flows and flows[y].estimated),
            findings=touching.of(y, own),
        ))  # fmt: skip
    out_edges = []
    for e in sub.edges:
        if not lots[e.src].descendant:
            continue
        flow = flows[e.dst]
        r_in = sum(flow.reo.values())
        reo_dst = lots[e.dst].reo_kg or 0.0
        carried = f[e.src] * flow.reo[e.src] * reo_dst / r_in if r_in else 0.0
        out_edges.append(Edge(e.src, e.dst, e.position, flow.event.type, flow.event.process,
                              e.mass_kg, flow.reo[e.src], flow.share[e.src], carried))  # fmt: skip
    return ForwardTrace(sub.root, start_reo, nodes, out_edges, ended, estimated, notes, findings)


def _start_reo_per_kg(sub: Subgraph, flows: Flows, f: dict[str, float]) -> dict[str, float]:
    """Start REO per kg of each descendant; for a start lot of unknown content, its estimated REO per
    kg at the events that drew it."""
    out: dict[str, float] = {}
    for key, frac in f.items():
        lot = sub.lots[key]
        if lot.known:
            assert lot.mass_kg and lot.reo_kg is not None
            out[key] = frac * lot.reo_kg / lot.mass_kg
    if sub.root not in out:
        kg = reo = 0.0
        for flow in unique(flows):
            if sub.root in flow.drawn:
                kg += flow.drawn[sub.root]
                reo += flow.reo[sub.root]
        out[sub.root] = reo / kg if kg else 0.0
    return out


def _endings(
    y: str,
    mass: float | None,
    per_kg: float,
    draws: list[Draw],
    received: dict[int, float],
    ended: list[Ending],
    notes: list[str],
) -> float | None:
    """Append where ``y``'s share of the start REO went; return the mass still held."""
    ent = y.partition(":")[0]
    drawn = 0.0
    shipped: dict[str, float] = defaultdict(float)
    for d in draws:
        ev = d.event
        if ev.type == "ship":
            shipped[ev.counterparty or "?"] += d.mass_kg
            continue
        drawn += d.mass_kg
        kind = _OUT_KINDS.get(ev.type)
        if kind is not None:
            detail: dict[str, Any] = {"position": ev.position, "event_id": ev.event_id}
            detail.update(ev.extra)  # an export's destination: country, customs_entry
            ended.append(Ending(kind, y, ev.enterprise, per_kg * d.mass_kg, 0.0, detail))
    got = sum(received.values())
    sent = sum(shipped.values())
    drawn += max(sent, got)
    if sent > got:
        for to, kg in sorted(shipped.items()):
            # Attribute the unreceived part to the counterparties in proportion to what each was sent.
            part = (sent - got) * kg / sent
            ended.append(Ending("in_transit", y, ent, per_kg * part, 0.0, {"to": to, "kg": part}))
    if mass is None:
        return None
    left = mass - drawn
    if left < -1e-9 * mass:
        notes.append(
            M_("{lot} is over-drawn: {drawn:g} kg drawn from {mass:g} kg", lot=y, drawn=drawn, mass=mass)
        )
    if left > 1e-9 * mass:
        ended.append(Ending("held", y, ent, per_kg * left, 0.0, {"kg": left}))
        return left
    return 0.0


def _process_losses(
    sub: Subgraph, flows: Flows, f: dict[str, float], per_kg: dict[str, float]
) -> list[Ending]:
    out: list[Ending] = []
    for flow in unique(flows):
        if flow.event.type != "process":
            continue
        pos = flow.event.position
        drawn = sum(per_kg[src] * kg for src, kg in flow.drawn.items() if src in f)
        made = sum(per_kg[o] * (sub.lots[o].mass_kg or 0.0) for o in flow.outputs)
        if abs(drawn - made) > 1e-9 * max(drawn, 1.0):
            first = min(flow.outputs)
            out.append(Ending("process_loss", first, flow.event.enterprise, drawn - made, 0.0,
                              {"position": pos, "event_id": flow.event.event_id,
                               "process": flow.event.process}))  # fmt: skip
    return out


def _draw_json(d: Draw) -> dict[str, Any]:
    ev = d.event
    out: dict[str, Any] = {"position": ev.position, "event_id": ev.event_id, "type": ev.type,
                           "mass_kg": d.mass_kg}  # fmt: skip
    if ev.counterparty:
        out["counterparty"] = ev.counterparty
    out.update(ev.extra)
    return out
