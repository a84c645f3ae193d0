"""A trace as one networkx DiGraph with display attributes, and its DOT and GraphML texts.

Every renderer works from :func:`as_graph`, so the tree, DOT, GraphML and the picture show the same
nodes with the same kinds. Node attributes: ``kind`` (``root``, ``lot``, ``separated``, ``mine``,
``import``, ``scrap``, ``unexplained``, and forward ``exported``, ``consumed``, ``in_transit``,
``lost``), ``label`` (lines joined by ``\\n``), ``layer`` (column, left to right: origins first for a
backward trace, the start lot first for a forward one), ``weight`` (what the picture keeps first when
it must leave lots out), and data fields for programs. Edge attributes: ``label`` (drawn kg) and data.
GraphML gets only scalar attributes (``None`` left out); DOT is written by hand (no graphviz needed).
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from reetrace.trace.result import BackTrace, ForwardTrace, Node

ORIGIN_KINDS = ("mine", "import", "scrap", "unexplained")
#: Fill colours per node kind (colour-blind safe Okabe-Ito hues, lightened).
COLOURS: dict[str, str] = {
    "root": "#f0c571",
    "lot": "#f2f2f2",
    "separated": "#c9b3de",
    "mine": "#9fd3b5",
    "import": "#9cc9ec",
    "scrap": "#c8c8c8",
    "unexplained": "#f4a3a3",
    "exported": "#9cc9ec",
    "consumed": "#e0d6a8",
    "in_transit": "#f7d9a8",
    "lost": "#e8b4b4",
}
KIND_TITLES: dict[str, str] = {
    "root": "traced lot", "lot": "lot", "separated": "separated at a plant",
    "mine": "origin: mine", "import": "origin: import entry", "scrap": "origin: scrap intake",
    "unexplained": "origin: unexplained", "exported": "exported", "consumed": "consumed",
    "in_transit": "in transit", "lost": "lost (adjust)",
}  # fmt: skip


def kg(x: float | None) -> str:
    """A mass for people: kg up to 10 t, then tonnes."""
    if x is None:
        return "? kg"
    if abs(x) >= 10_000:
        return f"{x / 1000:,.1f} t" if abs(x) < 100_000 else f"{x / 1000:,.0f} t"
    if abs(x) >= 100:
        return f"{x:,.0f} kg"
    return f"{x:.3g} kg"


def pct(x: float) -> str:
    """A share as a percentage, with enough digits to tell a small share from zero."""
    if x == 0 or abs(x) >= 0.9995:
        return f"{x:.0%}"
    if abs(x) >= 0.001:
        return f"{x:.1%}"
    if abs(x) >= 0.00001:
        return f"{x:.3%}"
    return "<0.001%" if x > 0 else "-<0.001%"


def _node_data(n: Node) -> dict[str, Any]:
    ev = n.created_by
    return {
        "lot": n.lot, "enterprise": n.enterprise, "product": n.product, "form": n.form,
        "mass_kg": n.mass_kg, "reo_kg": n.reo_kg, "depth": n.depth, "share": n.share,
        "created_by": f"{ev.type}#{ev.position}" if ev else None,
        "site": ev.site if ev else None, "findings": len(n.findings),
    }  # fmt: skip


def _origin_title(n: Node) -> str:
    assert n.origin is not None
    kind, oid = n.origin
    if kind == "import":
        country = n.created_by.extra.get("country") if n.created_by else None
        return f"IMPORT {oid}" + (f" · {country}" if country else "")
    return {"mine": f"MINE {oid}", "scrap": "SCRAP INTAKE", "unexplained": "UNEXPLAINED"}[kind]


def as_graph(result: BackTrace | ForwardTrace) -> nx.DiGraph:
    if isinstance(result, BackTrace):
        return _back_graph(result)
    return _forward_graph(result)


def _back_graph(t: BackTrace) -> nx.DiGraph:
    g = nx.DiGraph(name=f"provenance of {t.lot}", lot=t.lot, direction="back")
    top = max((n.depth for n in t.nodes), default=0)
    for n in t.nodes:
        data = _node_data(n)
        lines = []
        if n.lot == t.lot:
            kind = "root"
        elif n.origin is not None:
            kind = n.origin[0]
            data["origin_kind"], data["origin_id"] = n.origin
            lines.append(_origin_title(n))
        elif n.plant is not None:
            kind = "separated"
        else:
            kind = "lot"
        lines.append(n.lot)
        lines.append(f"{n.form} · {kg(n.mass_kg)}" if n.created_by else "no creating event")
        if n.plant is not None:
            data["plant"] = n.plant
            lines.append(f"separated at {n.plant}")
        lines.append(f"{pct(n.share)} of the lot's REO" if n.lot != t.lot
                     else f"{kg(n.reo_kg)} REO")  # fmt: skip
        if n.findings:
            lines.append(f"⚠ {len(n.findings)} finding(s)")
        g.add_node(n.lot, kind=kind, label="\n".join(lines), layer=top - n.depth,
                   weight=n.share, **data)  # fmt: skip
    for e in t.edges:
        g.add_edge(e.src, e.dst, label=kg(e.mass_kg), mass_kg=e.mass_kg, reo_kg=e.reo_kg,
                   share=e.share, flow=e.flow, weight=e.flow, position=e.position,
                   event_type=e.event_type, process=e.process)  # fmt: skip
    return g


def _forward_graph(t: ForwardTrace) -> nx.DiGraph:
    g = nx.DiGraph(name=f"descendants of {t.lot}", lot=t.lot, direction="forward")
    total = t.reo_kg or sum(e.reo_kg for e in t.ended) or 1.0
    depth = {n.lot: n.depth for n in t.nodes}
    for n in t.nodes:
        data = _node_data(n)
        data["reo_from_start_kg"] = n.reo_from_start_kg
        data["remaining_kg"] = n.remaining_kg
        kind = "root" if n.lot == t.lot else "lot"
        lines = [n.lot, f"{n.form or '?'} · {kg(n.mass_kg)}"]
        if n.remaining_kg:
            lines.append(f"held: {kg(n.remaining_kg)}")
        if n.lot != t.lot:
            lines.append(f"{pct(n.share)} from the start lot")
        g.add_node(n.lot, kind=kind, label="\n".join(lines), layer=n.depth,
                   weight=(n.reo_from_start_kg or 0.0) / total, **data)  # fmt: skip
    for e in t.edges:
        g.add_edge(e.src, e.dst, label=kg(e.mass_kg), mass_kg=e.mass_kg, reo_kg=e.reo_kg,
                   share=e.share, reo_from_start_kg=e.flow, weight=e.flow / total,
                   position=e.position, event_type=e.event_type, process=e.process)  # fmt: skip
    for i, end in enumerate(t.ended):
        if end.kind not in ("exported", "consumed", "in_transit", "lost"):
            continue
        sink = f"{end.kind}#{i}"
        if end.kind == "exported":
            title = f"EXPORT {end.detail.get('country', '?')}\n{end.detail.get('customs_entry', '')}"
        elif end.kind == "in_transit":
            title = f"IN TRANSIT to {end.detail.get('to', '?')}"
        else:
            title = f"{end.kind.upper()} by {end.enterprise}"
        g.add_node(sink, kind=end.kind, layer=depth.get(end.lot, 0) + 1, weight=end.share,
                   label=f"{title}\n{kg(end.reo_kg)} REO ({pct(end.share)})",
                   reo_kg=end.reo_kg, share=end.share, lot=end.lot,
                   **{k: v for k, v in end.detail.items() if isinstance(v, str | int | float)})  # fmt: skip
        drawn = end.detail.get("kg")
        if drawn is None:
            drawn = next((d["mass_kg"] for n in t.nodes if n.lot == end.lot for d in n.draws
                          if d.get("position") == end.detail.get("position")), None)  # fmt: skip
        g.add_edge(end.lot, sink, label=kg(drawn), reo_from_start_kg=end.reo_kg,
                   weight=end.share, mass_kg=drawn)  # fmt: skip
    return g


# -- DOT -------------------------------------------------------------------------------------------


def _dot_id(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_attrs(attrs: dict[str, Any]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None or key == "layer":
            continue
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={_dot_id(text)}")
    return ", ".join(parts)


def to_dot(g: nx.DiGraph) -> str:
    """Graphviz DOT: left to right, origins (or the start lot) in the first column."""
    lines = [
        f"digraph {_dot_id(g.graph.get('name', 'trace'))} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for node, attrs in g.nodes(data=True):
        a = dict(attrs)
        a["fillcolor"] = COLOURS.get(a.get("kind", "lot"), "#ffffff")
        if a.get("kind") == "root":
            a["penwidth"] = 2.5
        lines.append(f"  {_dot_id(node)} [{_dot_attrs(a)}];")
    layers: dict[int, list[str]] = {}
    for node, layer in g.nodes(data="layer"):
        layers.setdefault(int(layer or 0), []).append(node)
    for _layer, members in sorted(layers.items()):
        # Same column, as in the picture.
        lines.append("  { rank=same; " + " ".join(_dot_id(m) for m in members) + " }")
    for u, v, attrs in g.edges(data=True):
        lines.append(f"  {_dot_id(u)} -> {_dot_id(v)} [{_dot_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- GraphML ---------------------------------------------------------------------------------------


def _scalar(value: Any) -> Any:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)  # one type per key: GraphML declares a key's type once
    return None if value is None else str(value)


def to_graphml(g: nx.DiGraph) -> str:
    clean = nx.DiGraph()
    clean.graph.update({k: v for k, v in g.graph.items() if isinstance(v, str)})
    for node, attrs in g.nodes(data=True):
        clean.add_node(node, **{k: s for k, v in attrs.items() if (s := _scalar(v)) is not None})
    for u, v, attrs in g.edges(data=True):
        clean.add_edge(u, v, **{k: s for k, x in attrs.items() if (s := _scalar(x)) is not None})
    return "\n".join(nx.generate_graphml(clean)) + "\n"
