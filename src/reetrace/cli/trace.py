"""``reetrace trace``: a lot back to its origins, or forward to where it went."""

from __future__ import annotations

import io
import sys
from typing import Any

import click
from rich.console import Console

import reetrace
from reetrace.cli.client import server_option
from reetrace.cli.common import (
    console,
    db_option,
    errors_to_click,
    json_bytes,
    json_option,
    print_json,
    store_for,
    write_output,
)

FORMATS = ("tree", "json", "dot", "graphml", "svg", "png")


@click.command("trace")
@click.argument("lot")
@click.option("--forward", is_flag=True, help="Trace down to every descendant instead of up.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="tree", show_default=True,
              help="tree for people, json/dot/graphml for programs, svg/png for a report.")  # fmt: skip
@json_option
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE instead of the terminal (required for svg and png).")  # fmt: skip
@click.option("--findings/--no-findings", default=True, show_default=True,
              help="Attach the audit findings that touch the traced lots and events.")  # fmt: skip
@click.option("--max-nodes", type=click.IntRange(1), default=reetrace.PICTURE_MAX_NODES, show_default=True,
              help="Lots drawn in a picture at most (those carrying the most REO).")  # fmt: skip
@db_option
@server_option
@errors_to_click
def trace_cmd(
    lot: str,
    forward: bool,
    fmt: str,
    as_json: bool,
    output: str | None,
    findings: bool,
    max_nodes: int,
    db: str,
    server: str | None = None,
) -> None:
    """Trace LOT (ENT:LOT) back to its origins, or --forward to where it went.

    Back: every origin (mine site, import customs entry, scrap intake lot, or an unexplained lot
    with no creating event) with its share of the lot's REO and of each element, the separation
    plants and enterprises on the paths, and the audit findings on the way. Forward: every
    descendant, who holds it now, and how much of the lot's REO was exported, consumed, lost or is
    still held. Retracted events are left out.

    Example: reetrace trace MAG:MAG1 --format svg -o magnet.svg
    """
    if as_json:
        fmt = "json"
    if fmt in ("svg", "png") and not output:
        raise click.UsageError(f"--format {fmt} writes a picture: give --output FILE")
    if server:
        from reetrace.cli import client

        client.trace(
            server, lot, forward=forward, fmt=fmt, output=output, findings=findings, max_nodes=max_nodes
        )
        return
    hook = reetrace.audit_findings if findings else None
    result: reetrace.BackTrace | reetrace.ForwardTrace
    with store_for(db) as store:
        try:
            with store.reading() as conn:
                if forward:
                    result = reetrace.trace_forward(conn, lot, findings_for=hook)
                else:
                    result = reetrace.trace_back(conn, lot, findings_for=hook)
        except reetrace.LotNotFound as exc:
            near = reetrace.similar_lots(store, lot)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise click.ClickException(f"{exc}{hint}") from exc
    if fmt in ("svg", "png"):
        assert output is not None
        write_output(output, lambda path: reetrace.render_picture(result, path, fmt, max_nodes=max_nodes))
        click.echo(f"wrote {output}", err=True)
        return
    if fmt == "tree":
        if output:
            buf = io.StringIO()
            reetrace.print_trace(result, Console(file=buf, width=120, no_color=True))
            write_output(output, buf.getvalue().encode())
        else:
            reetrace.print_trace(result, console())
        return
    if fmt == "json" and not output:
        print_json(stable_trace(result.to_dict()))
        return
    if fmt == "json":
        data = json_bytes({"format": TRACE_FORMAT, **stable_trace(result.to_dict())})
    else:
        graph = reetrace.trace_graph(result)
        text = reetrace.graph_to_dot(graph) if fmt == "dot" else reetrace.graph_to_graphml(graph)
        data = text.encode()
    if output:
        write_output(output, data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


#: The version of the trace JSON document.
TRACE_FORMAT = "reetrace-trace/1"


def stable_trace(d: dict[str, Any]) -> dict[str, Any]:
    """The trace document with its lists in one order whatever the backend returned first."""
    out = {"format": TRACE_FORMAT, **d}
    if isinstance(out.get("nodes"), list):
        out["nodes"] = sorted(out["nodes"], key=lambda n: str(n.get("lot", "")))
    if isinstance(out.get("edges"), list):
        out["edges"] = sorted(
            out["edges"], key=lambda e: (str(e.get("src", "")), str(e.get("dst", "")), e.get("position", 0))
        )
    return out
