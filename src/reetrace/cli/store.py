"""Commands of the store: init, registry, submit, verify, checkpoint, lot, events."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

import reetrace
from reetrace.cli.client import server_option
from reetrace.cli.common import (
    console,
    db_option,
    display_time,
    errors_to_click,
    json_option,
    parse_period,
    parse_time,
    print_json,
    store_for,
)


@click.command("init")
@click.option("--roles", is_flag=True, help="PostgreSQL: also create the owner and writer roles.")
@click.option("--print-roles-sql", is_flag=True, help="Print the roles' SQL for a DBA; change nothing.")
@click.option(
    "--owner-role", default="reetrace_owner", show_default=True, help="Owns tables, views, triggers."
)
@click.option("--writer-role", default="reetrace_writer", show_default=True, help="SELECT and INSERT only.")
@db_option
@json_option
@errors_to_click
def init_cmd(
    roles: bool, print_roles_sql: bool, owner_role: str, writer_role: str, db: str, as_json: bool
) -> None:
    """Create the schema, or migrate it to the newest version.

    Other commands do this on first use too; run it to prepare a database ahead of time. With --roles
    (PostgreSQL, run as a superuser) the tables, views and triggers are given to an owner role and a
    writer role gets SELECT and INSERT only: it cannot update, delete, truncate, touch a trigger or a
    view. --print-roles-sql prints those statements instead.

    Example: reetrace init --roles --db postgresql://postgres@localhost/reetrace
    """
    from reetrace.store.roles import create_roles, roles_sql

    if print_roles_sql:
        for stmt in roles_sql(owner_role, writer_role):
            click.echo(stmt + ";")
        return
    with store_for(db, create=True) as store:
        revision = reetrace.schema_revision(store)
        if roles:
            with store.engine.begin() as conn:
                create_roles(conn, owner_role, writer_role)
    if as_json:
        print_json({"revision": revision, "backend": store.dialect, "roles": roles})
        return
    click.echo(f"schema at revision {revision} ({store.dialect})")
    if roles:
        click.echo(f"roles: {owner_role} owns the schema; {writer_role} may SELECT and INSERT")


@click.group("registry")
def registry_group() -> None:
    """Groups, enterprises, sites and quotas."""


@registry_group.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@json_option
@errors_to_click
def registry_load(file: str, db: str, as_json: bool) -> None:
    """Load a registry file; appends what is new or changed, never rewrites history.

    Every reference (a site's enterprise, an enterprise's group, a quota's holder) must name a
    record of the same file or of the store. Prints what changed, per kind, with the codes.

    Example: reetrace registry load registry.json
    """
    reg = reetrace.parse_registry(file)
    with store_for(db, create=True) as store:
        result = reetrace.load_registry(store, reg, source=file)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(result.message())


@registry_group.command("show")
@db_option
@json_option
@errors_to_click
def registry_show(db: str, as_json: bool) -> None:
    """Print the current registry (the latest version of every record).

    Example: reetrace registry show --json
    """
    from rich.markup import escape
    from rich.table import Table

    with store_for(db) as store:
        data = reetrace.show_registry(store)
    if as_json:
        print_json(data)
        return
    out = console()
    t = Table("enterprise", "name", "group", "roles", "approved", "sites", title="enterprises")
    sites: dict[str, list[str]] = {}
    for s in data["sites"]:
        sites.setdefault(s["enterprise"], []).append(f"{s['code']} ({s['kind']})")
    for e in data["enterprises"]:
        t.add_row(*map(escape, (
            e["code"], e["name"], e.get("group", ""), " ".join(e["roles"]),
            "yes" if e["approved"] else "no", ", ".join(sites.get(e["code"], [])),
        )))  # fmt: skip
    out.print(t)
    q = Table("year", "batch", "holder", "category", "t REO", title="quotas")
    for r in data["quotas"]:
        q.add_row(str(r["year"]), str(r["batch"]), escape(r["holder"]), escape(r["category"]),
                  f"{r['tonnes_reo']:,.0f}")  # fmt: skip
    out.print(q)
    out.print(f"{len(data['groups'])} groups, {len(data['enterprises'])} enterprises, "
                  f"{len(data['sites'])} sites, {len(data['quotas'])} quota batches")  # fmt: skip


def _short(iso: str) -> str:
    """An ISO time as Asia/Shanghai wall-clock minutes with the offset, the way reporters think of it."""
    return datetime.fromisoformat(iso).astimezone(reetrace.SHANGHAI).strftime("%Y-%m-%d %H:%M%z")


@click.command("submit")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--enterprise", "-e", required=True, help="The reporting enterprise.")
@click.option("--period", "-p", required=True, metavar="YYYY-MM", help="The month reported.")
@click.option(
    "--received-at",
    metavar="ISO",
    help="Time of receipt of a historical load (needs --historical; default: now).",
)
@click.option(
    "--historical", is_flag=True,
    help="A historical load: allows --received-at, which the envelope records as given.",
)  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default: from the name.")
@click.option("--encoding", metavar="NAME",
              help="Encoding of a CSV file, e.g. gb18030 or gbk (default: UTF-8 with or without BOM, "
              "GB18030 when the file is not UTF-8).")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--log-key", envvar="REETRACE_LOG_KEY", type=click.Path(dir_okay=False), metavar="FILE",
    help="The log's key file (env REETRACE_LOG_KEY): make a receipt of the submission.",
)  # fmt: skip
@click.option("--receipt", "receipt_file", type=click.Path(dir_okay=False), help="Write the receipt here.")
@click.option(
    "--signature", "signature_file", type=click.Path(dir_okay=False, exists=True),
    help="The enterprise's signature of this file (from `reetrace sign`); required where the registry says.",
)  # fmt: skip
@db_option
@server_option
@json_option
@errors_to_click
def submit_cmd(
    file: str, enterprise: str, period: str, received_at: str | None, historical: bool,
    fmt: str | None, encoding: str | None, quiet: bool, log_key: str | None, receipt_file: str | None,
    signature_file: str | None, db: str, server: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Submit one enterprise's flow records for one period (all or nothing).

    FILE is JSON Lines or CSV, optionally gzip-compressed; - reads standard input. Every error is
    reported with its line and field, and nothing is written if there is any. Submitting the same
    content again changes nothing and says so. A submission after the 10th of the following month
    (Asia/Shanghai) is recorded and marked late. What is recorded but looks wrong (an overdrawn lot, an
    unknown counterparty, masses that look like tonnes, …) is listed as warnings after the result.

    The receipt time is the clock's; only a historical load (--historical) may state it with
    --received-at, and the record says it was given.

    Example: reetrace submit flows-2025-03.jsonl --enterprise NMSEP --period 2025-03
    """
    when = parse_time(received_at, param_hint="--received-at", dates=False)
    if when is not None and not historical:
        raise click.UsageError(
            "--received-at states the receipt time, which only a historical load may do: add --historical"
        )
    period = parse_period(period) or period
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise click.BadParameter(f"unknown encoding {encoding!r}", param_hint="--encoding") from None
    if server:
        from reetrace.cli import client

        receipt = client.submit(server, file, enterprise=enterprise, period=period, fmt=fmt,
                                received_at=when.isoformat() if when else None)  # fmt: skip
        print_json(receipt) if as_json else click.echo(receipt["message"])
        return
    show_bar = not quiet and not as_json and file != "-" and sys.stderr.isatty()
    if receipt_file and not log_key:
        raise click.UsageError("--receipt needs the log's key (--log-key FILE or REETRACE_LOG_KEY)")
    signature = Path(signature_file).read_text(encoding="utf-8") if signature_file else None
    signer = None
    if log_key:
        from reetrace.cli.tlog import load_signer

        signer = load_signer(log_key)
    with store_for(db, create=True) as store:
        if show_bar:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            size = Path(file).stat().st_size
            with Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), console=Console(stderr=True), transient=True,
            ) as bar:  # fmt: skip
                task = bar.add_task(f"{enterprise} {period}", total=size)
                result = reetrace.submit(
                    store, file, enterprise=enterprise, period=period, received_at=when, fmt=fmt,
                    progress=lambda n: bar.advance(task, n), signer=signer, signature=signature,
                    encoding=encoding,
                )  # fmt: skip
        else:
            result = reetrace.submit(
                store, file, enterprise=enterprise, period=period, received_at=when, fmt=fmt,
                signer=signer, signature=signature, encoding=encoding,
            )  # fmt: skip
    if receipt_file and result.receipt is not None:
        Path(receipt_file).write_text(result.receipt, encoding="utf-8")
    if as_json:
        print_json({
            "enterprise": result.enterprise, "period": result.period, "position": result.position,
            "new_events": result.new_events, "unchanged_events": result.unchanged_events,
            "lot_lines": result.lot_lines, "late": result.late, "noop": result.noop,
            "received_at": display_time(result.received_at), "deadline": display_time(result.deadline),
            "received_at_given": result.received_at_given, "digest": result.digest,
            "receipt": receipt_file if result.receipt else None,
            "warnings": [
                {"file": w.file, "line": w.line, "field": w.field, "reason": w.reason}
                for w in result.warnings
            ],
        })  # fmt: skip
    else:
        click.echo(result.message())
        if result.warnings:
            click.echo(f"{len(result.warnings)} warning(s): recorded, but check them")
            for w in result.warnings:
                click.echo(f"  {w}")


@click.command("verify")
@click.option(
    "--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, exists=True),
    help="A file written by `reetrace checkpoint`: prove the log still extends it.",
)  # fmt: skip
@db_option
@json_option
@errors_to_click
def verify_cmd(checkpoint_file: str | None, db: str, as_json: bool) -> None:
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
    if as_json:
        print_json({"ok": True, "message": result.message()})
    else:
        click.echo(result.message())


@click.command("checkpoint")
@click.option("--sign", is_flag=True, help="Print the signed checkpoint (C2SP signed note) instead.")
@click.option("--key", "key_file", envvar="REETRACE_LOG_KEY", type=click.Path(dir_okay=False),
              metavar="FILE", help="The log's key file for --sign (env REETRACE_LOG_KEY).")  # fmt: skip
@db_option
@json_option
@errors_to_click
def checkpoint_cmd(sign: bool, key_file: str | None, db: str, as_json: bool) -> None:
    """Print the head of the chain as JSON (position, hash, Merkle root): keep it outside the database.

    With --sign, print the log's signed checkpoint (origin = the key's name, size, root) as published
    to witnesses and put in receipts (docs/transparency-log.md); it is also kept in the store. The
    unsigned output is JSON already; --json is accepted for symmetry and prints the same bytes.

    Example: reetrace checkpoint > head-2025-04.json; reetrace checkpoint --sign --key log.key
    """
    import base64

    import orjson

    from reetrace.transparency import tree_state

    if sign:
        if not key_file:
            raise click.UsageError("--sign needs --key FILE (or REETRACE_LOG_KEY)")
        from reetrace.cli.tlog import load_signer

        signer = load_signer(key_file)
        with store_for(db) as store:
            click.echo(reetrace.latest_checkpoint(store, signer), nl=False)
        return
    with store_for(db) as store:
        head = tree_state(store)
    out = {"position": head.size, "hash": head.head.hex(), "root": base64.b64encode(head.root).decode()}
    sys.stdout.buffer.write(orjson.dumps(out) + b"\n")


def _note(ev: dict[str, Any]) -> str:
    """An event's note column: retracted, and who signed its submission."""
    parts = ["retracted"] if ev["retracted_by"] else []
    if ev.get("signed_by"):
        parts.append(f"signed {ev['signed_by']}")
    return ", ".join(parts)


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
    from rich.markup import escape
    from rich.table import Table

    if server:
        from reetrace.cli import client

        rep = client.get_json(server, f"/v1/lots/{lot}")
    else:
        with store_for(db) as store:
            rep = reetrace.lot_report(store, lot)
            if not rep["created_by"] and not rep["drawn_by"]:
                near = reetrace.similar_lots(store, rep["lot"])
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                raise click.ClickException(f"{rep['lot']}: no event mentions this lot{hint}")
    if as_json:
        print_json(rep)
        return
    out = console()
    out.print(
        f"[bold]{escape(rep['lot'])}[/bold]" + ("" if rep["exists"] else "  [red]no creating event[/red]")
    )
    t = Table("event", "type", "at", "site", "product", "kg", "REO kg", "note", title="created by")
    for c in rep["created_by"]:
        t.add_row(*map(escape, (
            c["event_id"], c["type"], _short(c["occurred_at"]), c["site"] or "",
            f"{c['product']} ({c['form']})", f"{c['mass_kg']:,.1f}", f"{c['reo_kg']:,.1f}",
            _note(c),
        )))  # fmt: skip
    out.print(t)
    d = Table("enterprise", "event", "type", "at", "kg", "note", title="drawn by")
    for r in rep["drawn_by"]:
        d.add_row(*map(escape, (
            r["enterprise"], r["event_id"], r["type"], _short(r["occurred_at"]),
            f"{r['drawn_kg']:,.1f}", _note(r),
        )))  # fmt: skip
    out.print(d)
    if rep["mass_kg"] is not None:
        out.print(f"drawn by its holder: {rep['drawn_kg']:,.1f} of {rep['mass_kg']:,.1f} kg")


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
    from rich.markup import escape
    from rich.table import Table

    period = parse_period(period)
    with store_for(db) as store:
        rows = reetrace.list_events(store, enterprise, period)
    if as_json:
        print_json({"enterprise": enterprise, "period": period, "events": rows})
        return
    out = console()
    t = Table("position", "event", "type", "at", "site", "in", "out", "note")
    for r in rows:
        rec = r["record"]
        t.add_row(*map(escape, (
            str(r["position"]), r["event_id"], r["type"], _short(r["occurred_at"]), r["site"] or "",
            str(len(rec.get("inputs", []))), str(len(rec.get("outputs", []))), _note(r),
        )))  # fmt: skip
    out.print(t)
    out.print(f"{len(rows)} events")
