"""A picture of a trace for an inspector's report: SVG or PNG, drawn with matplotlib (Agg).

Layered left to right with networkx ``multipartite_layout``: a backward trace has its origins on the
left and the traced lot on the right, a forward trace the start lot on the left. Origins, separated
lots and the traced lot are coloured by kind (legend below the graph), edges are labelled with the kg
drawn and drawn thicker the more of the traced REO they carry. Lots within a column are ordered by the
barycentre of their neighbours to keep crossings few. A large trace is cut to the ``max_nodes`` lots
that carry most of the REO (best first from the traced lot, so what is shown stays connected) and to
``max_layers`` columns; the footnote says how much was left out.
"""

from __future__ import annotations

import heapq
from typing import IO, Any

import matplotlib as mpl
import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from reetrace.trace.graph import COLOURS, KIND_TITLES, as_graph, kg, pct
from reetrace.trace.result import BackTrace, ForwardTrace

MAX_NODES = 60
MAX_LAYERS = 10
#: Inches above the graph (title) and below it (legend, footnote).
HEAD = 1.0
FOOT = 0.8


def _keep(g: nx.DiGraph, root: str, back: bool, max_nodes: int, max_layers: int) -> list[str]:
    """Best-first from the traced lot by weight, never more than ``max_layers`` columns away."""
    step = g.predecessors if back else g.successors
    dist = {root: 0}
    kept: list[str] = []
    heap: list[tuple[float, int, str]] = [(-1.0, 0, root)]
    seen = {root}
    while heap and len(kept) < max_nodes:
        _w, d, node = heapq.heappop(heap)
        kept.append(node)
        if d + 1 >= max_layers:
            continue
        for nb in step(node):
            if nb not in seen:
                seen.add(nb)
                dist[nb] = d + 1
                heapq.heappush(heap, (-float(g.nodes[nb].get("weight") or 0.0), d + 1, nb))
    return kept


def _order(g: nx.DiGraph, layers: dict[int, list[str]]) -> None:
    """Reorder each column by the mean position of its neighbours (a few sweeps each way)."""
    cols = sorted(layers)
    for sweep in range(4):
        seq = cols[1:] if sweep % 2 == 0 else cols[-2::-1]
        for c in seq:
            ref = c - 1 if sweep % 2 == 0 else c + 1
            if ref not in layers:
                continue
            index = {n: i for i, n in enumerate(layers[ref])}
            here = {n: i for i, n in enumerate(layers[c])}

            def bary(n: str, index: dict[str, int] = index, here: dict[str, int] = here) -> float:
                nbs = [index[m] for m in nx.all_neighbors(g, n) if m in index]
                return sum(nbs) / len(nbs) if nbs else here[n]

            layers[c].sort(key=bary)


def render_picture(
    result: BackTrace | ForwardTrace,
    out: str | IO[bytes],
    fmt: str,
    *,
    max_nodes: int = MAX_NODES,
    max_layers: int = MAX_LAYERS,
) -> None:
    """Draw ``result`` as ``fmt`` (``svg`` or ``png``) into a file name or a binary stream."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"picture format must be svg or png, not {fmt!r}")
    full = as_graph(result)
    back = isinstance(result, BackTrace)
    kept = _keep(full, result.lot, back, max_nodes, max_layers)
    # Not ``full.subgraph(kept)``: a subgraph smaller than its graph iterates its nodes in the order of
    # a set, which changes with the process's string hashing, and so did the picture of a cut trace
    # (two runs, or ``trace --server`` and the local command, drew the same lots in other places).
    keep = set(kept)
    g = nx.DiGraph(**full.graph)
    g.add_nodes_from((n, full.nodes[n]) for n in kept)
    g.add_edges_from((u, v, d) for u, v, d in full.edges(data=True) if u in keep and v in keep)
    hidden = {n: sum(1 for m in nx.all_neighbors(full, n) if m not in g) for n in g}

    # Columns, compacted after the cut.
    used = sorted({int(a) for _n, a in g.nodes(data="layer")})
    col = {layer: i for i, layer in enumerate(used)}
    layers: dict[int, list[str]] = {}
    for n in kept:
        layers.setdefault(col[int(g.nodes[n]["layer"])], []).append(n)
    _order(g, layers)
    # Layers given as lists: with a node attribute, networkx groups them into sets and loses the
    # order just computed. Reversed so that the first of a column is drawn at the top.
    raw = nx.multipartite_layout(g, subset_key={c: layers[c][::-1] for c in sorted(layers)}, align="vertical")

    # Work in inches: a column as wide as the longest label (7.5 pt text is ~0.065 in a character)
    # plus room for the edge labels, a row as tall as the tallest label.
    labels = [str(g.nodes[n].get("label", n)).split("\n") for n in g]
    colw = max(2.2, 0.065 * max(len(line) for lines in labels for line in lines) + 1.1)
    rowh = 0.16 * max(len(lines) for lines in labels) + 0.45
    ncols = len(layers)
    nrows = max(len(v) for v in layers.values())
    width = min(ncols * colw, 80.0)
    height = min(nrows * rowh, 80.0) + HEAD + FOOT
    # multipartite_layout spreads the columns over [-1, 1]: stretch that to the grid in inches.
    xs = [p[0] for p in raw.values()]
    ys = [p[1] for p in raw.values()]
    xspan = (max(xs) - min(xs)) or 1.0
    yspan = (max(ys) - min(ys)) or 1.0
    pos = {
        n: (colw / 2 + (p[0] - min(xs)) / xspan * (width - colw),
            FOOT + rowh / 2 + (p[1] - min(ys)) / yspan * (height - HEAD - FOOT - rowh))
        for n, p in raw.items()
    }  # fmt: skip

    # The object API with the Agg canvas: no pyplot, no global backend, nothing left open.
    # Text stays text in the SVG: an inspector can search it and copy a lot code out of it.
    with mpl.rc_context({"svg.hashsalt": "reetrace", "svg.fonttype": "none", "font.size": 7.5}):
        fig = Figure(figsize=(width, height))
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))  # data units are inches
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        _draw(canvas, ax, g, pos, hidden, result, len(full), len(g))
        kw: dict[str, Any] = {"format": fmt, "bbox_inches": "tight", "pad_inches": 0.2}
        kw["metadata"] = {"Date": None} if fmt == "svg" else {"Software": "reetrace"}
        if fmt == "png":
            kw["dpi"] = 150 if width * height < 400 else 90
        fig.savefig(out, **kw)


def _draw(
    canvas: FigureCanvasAgg,
    ax: Any,
    g: nx.DiGraph,
    pos: dict[str, tuple[float, float]],
    hidden: dict[str, int],
    result: BackTrace | ForwardTrace,
    total_nodes: int,
    shown: int,
) -> None:
    ax.set_axis_off()
    width, height = ax.get_xlim()[1], ax.get_ylim()[1]

    boxes = {}
    for n, attrs in g.nodes(data=True):
        kind = attrs.get("kind", "lot")
        label = attrs.get("label", n)
        if hidden.get(n):
            label += f"\n(+{hidden[n]} not shown)"
        root = kind == "root"
        boxes[n] = ax.text(
            *pos[n], label, ha="center", va="center", zorder=3, fontsize=7.5,
            fontweight="bold" if root else "normal",
            bbox={"boxstyle": "round,pad=0.45", "fc": COLOURS.get(kind, "#ffffff"),
                  "ec": "#7a1f1f" if kind == "unexplained" else "#333333",
                  "lw": 2.2 if root or kind == "unexplained" else 0.8},
        )  # fmt: skip
    # Measure the drawn boxes, so that arrows end at a box's edge and not under it.
    canvas.draw()  # type: ignore[no-untyped-call]
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    inv = ax.transData.inverted()
    extent = {}
    for n, text in boxes.items():
        bb = text.get_bbox_patch().get_window_extent(renderer)
        (x0, _), (x1, _) = inv.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
        extent[n] = (x0, x1)

    for u, v, attrs in g.edges(data=True):
        (xu, yu), (xv, yv) = pos[u], pos[v]
        start = (extent[u][1], yu) if xv >= xu else (extent[u][0], yu)
        end = (extent[v][0], yv) if xv >= xu else (extent[v][1], yv)
        w = float(attrs.get("weight") or 0.0)
        colour = "#b03a2e" if g.nodes[u].get("kind") == "unexplained" else "#4d4d4d"
        ax.annotate(
            "", xy=end, xytext=start, zorder=2,
            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.7 + 3.0 * min(w, 1.0),
                        "shrinkA": 1, "shrinkB": 1, "mutation_scale": 9},
        )  # fmt: skip
        # Label where the edges spread out: near the source for many-into-one (a blend), near the
        # target for one-into-many.
        t = 0.3 if g.in_degree(v) >= g.out_degree(u) else 0.7
        lx, ly = start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
        ax.text(lx, ly, attrs.get("label", ""), ha="center", va="center", fontsize=6.5,
                zorder=4, color="#222222",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})  # fmt: skip

    kinds = [k for k in KIND_TITLES if any(a == k for _n, a in g.nodes(data="kind"))]
    handles = [Patch(fc=COLOURS[k], ec="#333333", label=KIND_TITLES[k]) for k in kinds]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.1 / width, 0.25 / height),
              ncol=min(len(handles), 6), frameon=False, fontsize=7.5)  # fmt: skip
    ax.text(0.1, height - 0.15, _title(result), fontsize=10, ha="left", va="top")
    foot = _footnote(result, total_nodes, shown)
    if foot:
        ax.text(0.1, 0.1, foot, fontsize=6.5, color="#555555", ha="left", va="bottom")


def _title(result: BackTrace | ForwardTrace) -> str:
    if isinstance(result, BackTrace):
        parts = [f"{o.kind} {o.id} {pct(o.share)}" for o in result.origins[:6]]
        more = len(result.origins) - 6
        tail = f" · +{more} more" if more > 0 else ""
        plants = ", ".join(p.site or p.enterprise for p in result.separation_plants[:4])
        line2 = "origins: " + " · ".join(parts) + tail
        if plants:
            line2 += f"\nseparation plants: {plants}"
        return f"Provenance of {result.lot} ({kg(result.reo_kg)} REO)\n{line2}"
    by_kind = result.ended_by_kind()
    total = sum(by_kind.values()) or 1.0
    parts = [f"{k.replace('_', ' ')} {pct(v / total)}" for k, v in
             sorted(by_kind.items(), key=lambda kv: -kv[1])]  # fmt: skip
    return f"Where {result.lot} went ({kg(result.reo_kg)} REO)\n" + " · ".join(parts)


def _footnote(result: BackTrace | ForwardTrace, total_nodes: int, shown: int) -> str:
    notes = []
    if shown < total_nodes:
        notes.append(f"showing {shown} of {total_nodes} nodes (those carrying the most REO)")
    if result.estimated:
        notes.append("some shares are estimated (content not on record)")
    n_find = len(result.findings)
    if n_find:
        notes.append(f"{n_find} audit finding(s) touch this trace")
    return "; ".join(notes)
