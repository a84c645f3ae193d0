"""A trace as an inline SVG in which every node is a link to its lot's page.

The CLI's pictures (:mod:`reetrace.trace.picture`) are matplotlib figures for reports; a page needs
something else: markup it can put inline, links on nodes, text it can select, and a size that grows
with the trace (the page pans and zooms it). So this draws its own: lots in columns by depth (a
backward trace reads left to right from the origins to the traced lot, a forward one from the start
lot to its descendants), each column ordered by where its neighbours stand in the previous column
(one barycentre sweep: few crossings for the trees traces mostly are), edges as curves whose width
follows the share of REO they carry.

Every text value is escaped: lot codes and products are other enterprises' words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from html import escape
from urllib.parse import quote

from reetrace.trace.result import BackTrace, ForwardTrace, Node

COL_W = 260
ROW_H = 64
BOX_W = 210
BOX_H = 48
PAD = 24
#: Beyond this many nodes the smallest ones are left out (and counted in a note): a browser draws a few
#: thousand SVG elements well, not a hundred thousand.
MAX_NODES = 400

_ORIGIN_FILL = {"mine": "#e8f3e8", "import": "#e6eefb", "scrap": "#f6efe2", "unexplained": "#fbe3e3"}


def lot_href(lot: str) -> str:
    """The workbench URL of a lot's page (``ENT:LOT`` percent-encoded as one path segment)."""
    return "/lots/" + quote(lot, safe="")


def _kg(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x / 1000:,.1f} t" if x >= 10_000 else f"{x:,.0f} kg"


def _keep(result: BackTrace | ForwardTrace, limit: int) -> tuple[list[Node], int]:
    nodes = result.nodes
    if len(nodes) <= limit:
        return nodes, 0
    # Keep the traced lot and the nodes that carry most of it.
    ranked = sorted(nodes, key=lambda n: (n.lot != result.lot, -n.share, n.lot))
    return ranked[:limit], len(nodes) - limit


def render_svg(
    result: BackTrace | ForwardTrace,
    *,
    href: Callable[[str], str] = lot_href,
    label: Callable[[Node], str] | None = None,
    max_nodes: int = MAX_NODES,
) -> str:
    """SVG markup of a trace (no XML declaration: meant to sit inside an HTML page)."""
    nodes, dropped = _keep(result, max_nodes)
    kept = {n.lot for n in nodes}
    edges = [e for e in result.edges if e.src in kept and e.dst in kept]
    back = result.direction == "back"
    depth_max = max((n.depth for n in nodes), default=0)

    columns: dict[int, list[Node]] = defaultdict(list)
    for n in nodes:
        columns[(depth_max - n.depth) if back else n.depth].append(n)
    neighbours: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        neighbours[e.src].append(e.dst)
        neighbours[e.dst].append(e.src)
    row: dict[str, float] = {}
    for col in sorted(columns):
        members = columns[col]

        def barycentre(n: Node) -> tuple[float, str]:
            placed = [row[m] for m in neighbours[n.lot] if m in row]
            return (sum(placed) / len(placed) if placed else float("inf"), n.lot)

        members.sort(key=barycentre)
        for i, n in enumerate(members):
            row[n.lot] = float(i)
    pos = {n.lot: (PAD + col * COL_W, PAD + row[n.lot] * ROW_H) for col, ms in columns.items() for n in ms}
    width = PAD * 2 + (max(columns, default=0)) * COL_W + BOX_W
    height = PAD * 2 + max((len(ms) for ms in columns.values()), default=1) * ROW_H

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trace-graph" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(result.lot)}">',
        '<g class="edges">',
    ]
    for e in edges:
        # Data flows from src to dst: src is left of dst in both directions.
        x1, y1 = pos[e.src]
        x2, y2 = pos[e.dst]
        x1, y1, x2, y2 = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
        mid = (x1 + x2) / 2
        weight = e.flow if back else (e.share or 0.0)
        sw = 1.0 + 7.0 * max(0.0, min(1.0, weight))
        title = f"{e.src} → {e.dst}: {_kg(e.mass_kg)} ({e.event_type}{' ' + e.process if e.process else ''})"
        out.append(
            f'<path d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" '
            f'fill="none" stroke="#8a94a6" stroke-opacity="0.7" stroke-width="{sw:.1f}">'
            f"<title>{escape(title)}</title></path>"
        )
    out.append('</g><g class="nodes">')
    for n in nodes:
        x, y = pos[n.lot]
        kind = n.origin[0] if (back and n.origin) else ""
        fill = _ORIGIN_FILL.get(kind, "#ffffff")
        stroke = "#c0392b" if n.findings else ("#1f4e9e" if n.lot == result.lot else "#56627a")
        second = label(n) if label else f"{n.form or '?'} · {_kg(n.mass_kg)} · {n.share:.1%}"
        width = 2 if n.findings or n.lot == result.lot else 1
        bold = 'font-size="12" font-weight="600"'
        out.append(
            f'<a href="{escape(href(n.lot))}" class="node" data-lot="{escape(n.lot)}">'
            f'<rect x="{x}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width}"/>'
            f'<text x="{x + 8}" y="{y + 19:.0f}" {bold}>{escape(_clip(n.lot))}</text>'
            f'<text x="{x + 8}" y="{y + 37:.0f}" font-size="11" fill="#444">{escape(_clip(second))}</text>'
            f"<title>{escape(n.lot)}</title></a>"
        )
    out.append("</g>")
    if dropped:
        out.append(
            f'<text x="{PAD}" y="{height - 6}" font-size="11" fill="#a00">'
            f"+{dropped} smaller lots not drawn</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, n: int = 30) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


__all__ = ["MAX_NODES", "lot_href", "render_svg"]
