"""``reetrace trace``: a lot back to its origins, or forward to where it went."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

import reetrace
from reetrace.cli.client import server_option
from reetrace.cli.common import db_option, errors_to_click, json_option, print_json, store_for

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

        client.trace(server, lot, forward=forward, fmt=fmt, output=output, findings=findings)
        return
    hook = reetrace.audit_findings if findings else None
    result: reetrace.BackTrace | reetrace.ForwardTrace
    with store_for(db) as store, store.reading() as conn:
        if forward:
            result = reetrace.trace_forward(conn, lot, findings_for=hook)
        else:
            result = reetrace.trace_back(conn, lot, findings_for=hook)
    if fmt in ("svg", "png"):
        assert output is not None
        reetrace.render_picture(result, output, fmt, max_nodes=max_nodes)
        click.echo(f"wrote {output}", err=True)
        return
    if fmt == "tree":
        if output:
            with Path(output).open("w", encoding="utf-8") as fh:
                reetrace.print_trace(result, Console(file=fh, width=120, no_color=True))
        else:
            reetrace.print_trace(result, Console())
        return
    if fmt == "json" and not output:
        print_json(result.to_dict())
        return
    if fmt == "json":
        import orjson

        text = orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        graph = reetrace.trace_graph(result)
        text = reetrace.graph_to_dot(graph) if fmt == "dot" else reetrace.graph_to_graphml(graph)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
