"""A trace for people in a terminal: summary tables and a provenance tree (rich).

The graph is a DAG, so a lot that feeds the traced lot along several paths would appear once per
path in a naive tree; here it is expanded the first time and referred to ("see above") after that,
which keeps the tree as large as the graph. The tree stops after ``max_lines`` lines and
``max_depth`` levels (deep chains of hundreds of hops), and says what it left out; the JSON, DOT,
GraphML and picture outputs carry the whole graph.
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from reetrace.trace.graph import kg, pct
from reetrace.trace.result import BackTrace, Edge, ForwardTrace, Node

ORIGIN_STYLE = {"mine": "green", "import": "blue", "scrap": "grey62", "unexplained": "bold red"}
MAX_LINES = 200
MAX_DEPTH = 12
#: Element columns in the origins table: the lot's largest elements, plus the heavy ones that
#: inspectors look at first whenever the lot has them.
WATCHED = ("Dy", "Tb")


def _elements_to_show(t: BackTrace, limit: int = 5) -> list[str]:
    if not t.elements:
        return []
    ranked = sorted(t.elements, key=lambda el: -t.elements[el])  # type: ignore[index]
    shown = ranked[:limit]
    shown += [el for el in WATCHED if el in t.elements and el not in shown]
    return shown


def _origin_label(n: Node) -> Text:
    assert n.origin is not None
    kind, oid = n.origin
    extra = ""
    if kind == "import" and n.created_by is not None:
        extra = f" ({n.created_by.extra.get('country', '?')})"
    return Text(f"{kind.upper()} {oid}{extra}", style=ORIGIN_STYLE.get(kind, ""))


def _back_label(n: Node, e: Edge | None, root: str) -> Text:
    line = Text()
    if e is not None:
        line.append(f"{pct(e.flow):>6} ", style="bold")
    line.append(n.lot, style="bold" if n.lot == root else "")
    line.append(f"  {n.form or '?'} {kg(n.mass_kg)}", style="dim")
    if e is not None:
        how = "received" if e.event_type == "receive" else f"drawn by {e.process or e.event_type}"
        line.append(f", {kg(e.mass_kg)} {how}", style="dim")
    if n.origin is not None:
        line.append("  ")
        line.append_text(_origin_label(n))
    if n.plant is not None:
        line.append(f"  separated at {n.plant}", style="magenta")
    if n.estimated:
        line.append("  ~estimated", style="yellow")
    if n.findings:
        line.append(f"  ⚠ {len(n.findings)} finding(s)", style="bold red")
    return line


def _tree(
    root: str,
    label: dict[str, Text],
    children: dict[str, list[tuple[str, Text]]],
    max_lines: int,
    max_depth: int,
) -> tuple[Tree, int]:
    """Depth-first, iteratively (no recursion limit); returns the tree and the lines left out."""
    tree = Tree(label[root])
    shown = {root}
    lines = 1
    left_out = 0
    stack: list[tuple[Tree, str, int]] = [(tree, root, 0)]
    while stack:
        branch, node, depth = stack.pop()
        kids = children.get(node, [])
        if depth >= max_depth and kids:
            branch.add(Text(f"… {len(kids)} more input(s) above this level", style="dim"))
            left_out += len(kids)
            continue
        pending = []
        for child, text in kids:
            if lines >= max_lines:
                left_out += 1
                continue
            lines += 1
            if child in shown:
                branch.add(text + Text("  (see above)", style="dim"))
                continue
            shown.add(child)
            pending.append((branch.add(text), child, depth + 1))
        stack.extend(reversed(pending))
    return tree, left_out


def back_renderable(
    t: BackTrace, *, max_lines: int = MAX_LINES, max_depth: int = MAX_DEPTH
) -> RenderableType:
    nodes = {n.lot: n for n in t.nodes}
    root = nodes[t.lot]
    head = Text()
    head.append(f"Trace back: {t.lot}", style="bold")
    head.append(f"  {root.product or root.form or '?'}, {kg(root.mass_kg)}, {kg(t.reo_kg)} REO")

    els = _elements_to_show(t)
    origins = Table(title="Origins (share of the lot's REO, and of each element)", title_justify="left")
    origins.add_column("origin")
    origins.add_column("id")
    origins.add_column("REO", justify="right")
    for el in els:
        origins.add_column(el, justify="right")
    origins.add_column("lots", justify="right")
    for o in t.origins:
        row: list[str | Text] = [Text(o.kind, style=ORIGIN_STYLE.get(o.kind, "")), Text(o.id),
               pct(o.share) + ("~" if o.estimated else "")]  # fmt: skip
        row += [pct(o.element_shares.get(el, 0.0)) if o.element_shares else "?" for el in els]
        row.append(str(len(o.lots)))
        origins.add_row(*row)

    parts: list[RenderableType] = [head, origins]
    if t.separation_plants:
        plants = Table(title="Separation plants on the paths", title_justify="left")
        for col in ("site", "enterprise", "share of REO"):
            plants.add_column(col)
        for p in t.separation_plants:
            plants.add_row(Text(p.site or "?"), Text(p.enterprise), pct(p.share))
        parts.append(plants)
    parts.append(Text(f"Enterprises crossed: {', '.join(t.enterprises)}"))
    parts += _findings_and_notes(t.findings, t.notes)

    by_dst: dict[str, list[Edge]] = defaultdict(list)
    for e in t.edges:
        by_dst[e.dst].append(e)
    label = {t.lot: _back_label(root, None, t.lot)}
    children = {
        dst: [(e.src, _back_label(nodes[e.src], e, t.lot)) for e in sorted(es, key=lambda e: -e.flow)]
        for dst, es in by_dst.items()
    }
    tree, left_out = _tree(t.lot, label, children, max_lines, max_depth)
    parts.append(Text("Provenance (share of the lot's REO along each edge)", style="bold"))
    parts.append(tree)
    if left_out:
        parts.append(Text(f"… {left_out} branch(es) not shown; --json or --format svg has them all",
                          style="dim"))  # fmt: skip
    return Group(*parts)


def _findings_and_notes(findings: list[dict[str, object]], notes: list[str]) -> list[RenderableType]:
    out: list[RenderableType] = []
    if findings:
        table = Table(title="Audit findings on the way", title_justify="left")
        for col in ("rule", "severity", "enterprise", "summary"):
            table.add_column(col)
        for f in findings:
            table.add_row(Text(str(f.get("rule", ""))), Text(str(f.get("severity", ""))),
                          Text(str(f.get("enterprise") or "")), Text(str(f.get("summary", ""))))  # fmt: skip
        out.append(table)
    out += [Text(f"note: {n}", style="yellow") for n in notes]
    return out


def _forward_label(n: Node, e: Edge | None) -> Text:
    line = Text()
    line.append(n.lot, style="bold" if e is None else "")
    line.append(f"  {n.form or '?'} {kg(n.mass_kg)}", style="dim")
    if e is not None:
        how = "received" if e.event_type == "receive" else f"into {e.process or e.event_type}"
        line.append(f", {kg(e.mass_kg)} {how}", style="dim")
        line.append(f"  {pct(n.share)} from start", style="cyan")
    if n.remaining_kg:
        line.append(f"  held by {n.enterprise}: {kg(n.remaining_kg)}", style="green")
    for d in n.draws:
        if d["type"] == "export":
            line.append(f"  exported {kg(d['mass_kg'])} to {d.get('country', '?')} "
                        f"({d.get('customs_entry', '?')})", style="blue")  # fmt: skip
        elif d["type"] == "consume":
            line.append(f"  consumed {kg(d['mass_kg'])}", style="yellow")
        elif d["type"] == "ship":
            line.append(f"  shipped {kg(d['mass_kg'])} to {d.get('counterparty', '?')}", style="dim")
        elif d["type"] == "adjust":
            line.append(f"  lost {kg(d['mass_kg'])} (adjust)", style="red")
    if n.findings:
        line.append(f"  ⚠ {len(n.findings)} finding(s)", style="bold red")
    return line


def forward_renderable(
    t: ForwardTrace, *, max_lines: int = MAX_LINES, max_depth: int = MAX_DEPTH
) -> RenderableType:
    nodes = {n.lot: n for n in t.nodes}
    head = Text(f"Trace forward: {t.lot}  {kg(t.reo_kg)} REO", style="bold")
    ended = Table(title="Where the lot's REO is now", title_justify="left")
    for col in ("where", "lot", "enterprise", "REO", "share", "detail"):
        ended.add_column(col)
    for end in t.ended:
        detail = ", ".join(f"{k}={v}" for k, v in end.detail.items()
                           if k in ("country", "customs_entry", "to", "process"))  # fmt: skip
        ended.add_row(end.kind, Text(end.lot), Text(end.enterprise), kg(end.reo_kg), pct(end.share),
                      Text(detail))  # fmt: skip
    parts: list[RenderableType] = [head, ended]
    parts += _findings_and_notes(t.findings, t.notes)
    by_src: dict[str, list[Edge]] = defaultdict(list)
    for e in t.edges:
        by_src[e.src].append(e)
    label = {t.lot: _forward_label(nodes[t.lot], None)}
    children = {
        src: [(e.dst, _forward_label(nodes[e.dst], e)) for e in sorted(es, key=lambda e: -e.flow)]
        for src, es in by_src.items()
    }
    tree, left_out = _tree(t.lot, label, children, max_lines, max_depth)
    parts += [Text("Descendants", style="bold"), tree]
    if left_out:
        parts.append(Text(f"… {left_out} branch(es) not shown; --json has them all", style="dim"))
    return Group(*parts)


def print_trace(result: BackTrace | ForwardTrace, console: Console | None = None) -> None:
    console = console or Console()
    if isinstance(result, BackTrace):
        console.print(back_renderable(result))
    else:
        console.print(forward_renderable(result))
