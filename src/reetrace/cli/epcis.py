"""``reetrace epcis``: GS1 EPCIS 2.0 export, import, and a foreign supplier's declared provenance."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

import reetrace
from reetrace.cli.common import db_option, errors_to_click, json_option, parse_time, print_json, store_for


@click.group("epcis")
def epcis_group() -> None:
    """Exchange events as GS1 EPCIS 2.0 JSON-LD (docs/epcis-mapping.md)."""


@contextlib.contextmanager
def _atomic(path: str) -> Iterator[IO[bytes]]:
    """A binary file that appears at ``path`` whole, or not at all (temporary file + rename)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@epcis_group.command("export")
@click.option("--enterprise", "-e", metavar="ENT", help="Events reported by this enterprise.")
@click.option("--period", "-p", metavar="YYYY-MM", help="Events of this month (Asia/Shanghai).")
@click.option("--lot", metavar="ENT:LOT", help="The events of this lot's backward trace.")
@click.option("--forward", is_flag=True, help="With --lot: the events of its forward trace instead.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE (atomically) instead of standard output.")  # fmt: skip
@db_option
@errors_to_click
def export_cmd(
    enterprise: str | None, period: str | None, lot: str | None, forward: bool, output: str | None, db: str
) -> None:
    """Write recorded events as one EPCIS 2.0 document, each with its CBV 2.0 event hash ID.

    Select an enterprise and a period (-e E -p P), a period for every enterprise (-p P), or a lot's
    whole trace (--lot ENT:LOT [--forward]). Events are read from the hash-chained log, in log
    order; a retract is written as an error declaration on the event it withdraws.

    Example: reetrace epcis export -e NMSEP -p 2025-03 -o NMSEP-2025-03.jsonld
    """
    if lot is None and period is None:
        raise click.UsageError("give --period (with or without --enterprise), or --lot")
    if lot is not None and (enterprise or period):
        raise click.UsageError("--lot exports a trace: it takes no --enterprise or --period")
    if forward and lot is None:
        raise click.UsageError("--forward goes with --lot")
    with store_for(db) as store:
        if output:
            with _atomic(output) as fh:
                n = reetrace.export_epcis(store, fh, enterprise=enterprise, period=period, lot=lot,
                                          forward=forward)  # fmt: skip
            click.echo(f"wrote {n} events to {output}", err=True)
        else:
            out = sys.stdout.buffer
            reetrace.export_epcis(store, out, enterprise=enterprise, period=period, lot=lot, forward=forward)
            out.write(b"\n")
            out.flush()


@epcis_group.command("import")
@click.argument("document", type=click.Path(dir_okay=False, exists=True, allow_dash=False))
@click.option("--enterprise", "-e", required=True, metavar="ENT", help="The reporting enterprise.")
@click.option("--period", "-p", required=True, metavar="YYYY-MM", help="The period reported.")
@click.option("--received-at", metavar="TIME",
              help="When it was received (default: now); only with --historical.")  # fmt: skip
@click.option("--historical", is_flag=True, help="A historical load: --received-at states the receipt time.")
@db_option
@json_option
@errors_to_click
def import_cmd(
    document: str,
    enterprise: str,
    period: str,
    received_at: str | None,
    historical: bool,
    db: str,
    as_json: bool,
) -> None:
    """Submit an EPCIS document that follows reetrace's mapping, like any submission.

    The same rules, all or nothing; every error names the event (its index in eventList) and the
    field. The submission's envelope records that it was converted from EPCIS.

    Example: reetrace epcis import NMSEP-2025-03.jsonld --enterprise NMSEP --period 2025-03
    """
    when = parse_time(received_at, param_hint="--received-at", dates=False)
    if when is not None and not historical:
        raise click.UsageError(
            "--received-at states the receipt time, which only a historical load may do: add --historical"
        )
    with store_for(db) as store:
        result = reetrace.import_epcis(store, Path(document), enterprise=enterprise, period=period,
                                       received_at=when)  # fmt: skip
    if as_json:
        print_json({
            "enterprise": result.enterprise, "period": result.period, "position": result.position,
            "new_events": result.new_events, "unchanged_events": result.unchanged_events,
            "late": result.late, "noop": result.noop, "source": result.source,
        })  # fmt: skip
    else:
        click.echo(result.message())


@epcis_group.command("attach")
@click.argument("document", type=click.Path(dir_okay=False, exists=True))
@click.option("--import-entry", required=True, metavar="ENTRY", help="The customs entry of an import event.")
@db_option
@json_option
@errors_to_click
def attach_cmd(document: str, import_entry: str, db: str, as_json: bool) -> None:
    """Record a foreign supplier's EPCIS document as the declared provenance of an import entry.

    Its mine or plant, its transformations with masses, its shipment: a trace back then continues
    past the customs entry into that declared chain, marked as declared by the supplier and not
    verified by any Chinese record. Each event a trace cannot use (no masses, counted not weighed,
    declared in error, an aggregation) is refused with its reason; a document with none it can
    use is refused whole. The document is kept in the hash-chained log.

    Example: reetrace epcis attach --import-entry 530420250402007 examples/epcis/MY-supplier.jsonld
    """
    with store_for(db) as store:
        result = reetrace.attach_foreign(store, import_entry, Path(document))
    if as_json:
        print_json({
            "import_entry": result.import_entry, "importer": result.importer, "source": result.source,
            "position": result.position, "origins": result.origins,
            "transformations": result.transformations, "custody": result.custody,
            "refused": [{"index": r.index, "type": r.event_type, "reason": r.reason} for r in result.refused],
        })  # fmt: skip
    else:
        click.echo(result.message())
