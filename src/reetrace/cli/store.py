"""Commands of the store: init, registry, submit, verify, checkpoint, lot, events."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

import reetrace
from reetrace.cli.client import server_option
from reetrace.cli.common import db_option, errors_to_click, json_option, parse_time, print_json, store_for

console = Console()


@click.command("init")
@db_option
@errors_to_click
def init_cmd(db: str) -> None:
    """Create the schema, or migrate it to the newest version.

    Other commands do this on first use too; run it to prepare a database ahead of time.

    Example: reetrace init --db postgresql://postgres@localhost/reetrace
    """
    with store_for(db) as store:
        click.echo(f"schema at revision {reetrace.schema_revision(store)} ({store.dialect})")


@click.group("registry")
def registry_group() -> None:
    """Groups, enterprises, sites and quotas."""


@registry_group.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@errors_to_click
def registry_load(file: str, db: str) -> None:
    """Load a registry file; appends what is new or changed, never rewrites history.

    Example: reetrace registry load registry.json
    """
    reg = reetrace.parse_registry(file)
    with store_for(db) as store:
        click.echo(reetrace.load_registry(store, reg).message())


@registry_group.command("show")
@db_option
@json_option
@errors_to_click
def registry_show(db: str, as_json: bool) -> None:
    """Print the current registry (the latest version of every record).

    Example: reetrace registry show --json
    """
    with store_for(db) as store:
        data = reetrace.show_registry(store)
    if as_json:
        print_json(data)
        return
    t = Table("enterprise", "name", "group", "roles", "approved", "sites", title="enterprises")
    sites: dict[str, list[str]] = {}
    for s in data["sites"]:
        sites.setdefault(s["enterprise"], []).append(f"{s['code']} ({s['kind']})")
    for e in data["enterprises"]:
        t.add_row(
            e["code"], e["name"], e.get("group", ""), " ".join(e["roles"]),
            "yes" if e["approved"] else "no", ", ".join(sites.get(e["code"], [])),
        )  # fmt: skip
    console.print(t)
    q = Table("year", "batch", "holder", "category", "t REO", title="quotas")
    for r in data["quotas"]:
        q.add_row(str(r["year"]), str(r["batch"]), r["holder"], r["category"], f"{r['tonnes_reo']:,.0f}")
    console.print(q)
    console.print(f"{len(data['groups'])} groups, {len(data['enterprises'])} enterprises, "
                  f"{len(data['sites'])} sites, {len(data['quotas'])} quota batches")  # fmt: skip


def _short(iso: str) -> str:
    """An ISO time as Asia/Shanghai wall-clock minutes, the way reporters think of it."""
    return datetime.fromisoformat(iso).astimezone(reetrace.SHANGHAI).strftime("%Y-%m-%d %H:%M")


@click.command("submit")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--enterprise", "-e", required=True, help="The reporting enterprise.")
@click.option("--period", "-p", required=True, metavar="YYYY-MM", help="The month reported.")
@click.option("--received-at", metavar="ISO", help="Time of receipt for historical loads (default: now).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default: from the name.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@db_option
@server_option
@json_option
@errors_to_click
def submit_cmd(
    file: str, enterprise: str, period: str, received_at: str | None, fmt: str | None,
    quiet: bool, db: str, server: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Submit one enterprise's flow records for one period (all or nothing).

    FILE is JSON Lines or CSV, optionally gzip-compressed; - reads standard input. Every error is
    reported with its line and field, and nothing is written if there is any. Submitting the same
    content again changes nothing and says so. A submission after the 10th of the following month
    (Asia/Shanghai) is recorded and marked late.

    Example: reetrace submit flows-2025-03.jsonl --enterprise NMSEP --period 2025-03
    """
    when = parse_time(received_at, param_hint="--received-at", dates=False)
    if server:
        from reetrace.cli import client

        receipt = client.submit(server, file, enterprise=enterprise, period=period, fmt=fmt,
                                received_at=when.isoformat() if when else None)  # fmt: skip
        print_json(receipt) if as_json else click.echo(receipt["message"])
        return
    show_bar = not quiet and not as_json and file != "-" and sys.stderr.isatty()
    with store_for(db) as store:
        if show_bar:
            size = Path(file).stat().st_size
            with Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), console=Console(stderr=True), transient=True,
            ) as bar:  # fmt: skip
                task = bar.add_task(f"{enterprise} {period}", total=size)
                result = reetrace.submit(
                    store, file, enterprise=enterprise, period=period, received_at=when, fmt=fmt,
                    progress=lambda n: bar.advance(task, n),
                )  # fmt: skip
        else:
            result = reetrace.submit(
                store, file, enterprise=enterprise, period=period, received_at=when, fmt=fmt
            )
    if as_json:
        print_json({
            "enterprise": result.enterprise, "period": result.period, "position": result.position,
            "new_events": result.new_events, "unchanged_events": result.unchanged_events,
            "lot_lines": result.lot_lines, "late": result.late, "noop": result.noop,
            "received_at": result.received_at.isoformat(), "deadline": result.deadline.isoformat(),
            "digest": result.digest,
        })  # fmt: skip
    else:
        click.echo(result.message())


@click.command("verify")
@click.option(
    "--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, exists=True),
    help="A file written by `reetrace checkpoint`: prove the log still extends it.",
)  # fmt: skip
@db_option
@errors_to_click
def verify_cmd(checkpoint_file: str | None, db: str) -> None:
    """Recompute the hash chain and the derived tables; name the first position that differs.

    Exits 0 when everything matches, 1 (with the position and the reason) when not.

    Example: reetrace verify --checkpoint head.json
    """
    against = None
    if checkpoint_file:
        against = reetrace.Checkpoint.from_bytes(Path(checkpoint_file).read_bytes())
    with store_for(db) as store:
        try:
            result = reetrace.verify(store, against=against)
        except reetrace.VerificationFailed as exc:
            raise click.ClickException(f"verification FAILED at {exc}") from exc
    click.echo(result.message())


@click.command("checkpoint")
@db_option
@errors_to_click
def checkpoint_cmd(db: str) -> None:
    """Print the head of the chain as JSON (position, hash): keep it outside the database.

    Example: reetrace checkpoint > head-2025-04.json
    """
    with store_for(db) as store:
        sys.stdout.buffer.write(reetrace.checkpoint(store).to_bytes() + b"\n")


@click.command("lot")
@click.argument("lot")
@db_option
@server_option
@json_option
@errors_to_click
def lot_cmd(lot: str, db: str, server: str | None, as_json: bool) -> None:
    """Show a lot (ENT:LOT): the event that created it and every event that drew from it.

    Example: reetrace lot NMSEP:PRND-2025-03-01
    """
    if server:
        from reetrace.cli import client

        rep = client.get_json(server, f"/v1/lots/{lot}")
    else:
        with store_for(db) as store:
            rep = reetrace.lot_report(store, lot)
    if as_json:
        print_json(rep)
        return
    if not rep["created_by"] and not rep["drawn_by"]:
        raise click.ClickException(f"{rep['lot']}: no event mentions this lot")
    console.print(f"[bold]{rep['lot']}[/bold]" + ("" if rep["exists"] else "  [red]no creating event[/red]"))
    t = Table("event", "type", "at", "site", "product", "kg", "REO kg", "note", title="created by")
    for c in rep["created_by"]:
        t.add_row(
            c["event_id"], c["type"], _short(c["occurred_at"]), c["site"] or "",
            f"{c['product']} ({c['form']})", f"{c['mass_kg']:,.1f}", f"{c['reo_kg']:,.1f}",
            "retracted" if c["retracted_by"] else "",
        )  # fmt: skip
    console.print(t)
    d = Table("enterprise", "event", "type", "at", "kg", "note", title="drawn by")
    for r in rep["drawn_by"]:
        d.add_row(
            r["enterprise"], r["event_id"], r["type"], _short(r["occurred_at"]),
            f"{r['drawn_kg']:,.1f}", "retracted" if r["retracted_by"] else "",
        )  # fmt: skip
    console.print(d)
    if rep["mass_kg"] is not None:
        console.print(f"drawn by its holder: {rep['drawn_kg']:,.1f} of {rep['mass_kg']:,.1f} kg")


@click.command("events")
@click.option("--enterprise", "-e", required=True)
@click.option("--period", "-p", metavar="YYYY-MM", help="Only events that occurred in this month.")
@db_option
@json_option
@errors_to_click
def events_cmd(enterprise: str, period: str | None, db: str, as_json: bool) -> None:
    """List an enterprise's recorded events (with --json: the full records).

    Example: reetrace events --enterprise NMSEP --period 2025-03
    """
    with store_for(db) as store:
        rows = reetrace.list_events(store, enterprise, period)
    if as_json:
        print_json(rows)
        return
    t = Table("position", "event", "type", "at", "site", "in", "out", "note")
    for r in rows:
        rec = r["record"]
        t.add_row(
            str(r["position"]), r["event_id"], r["type"], _short(r["occurred_at"]), r["site"] or "",
            str(len(rec.get("inputs", []))), str(len(rec.get("outputs", []))),
            "retracted" if r["retracted_by"] else "",
        )  # fmt: skip
    console.print(t)
    console.print(f"{len(rows)} events")
