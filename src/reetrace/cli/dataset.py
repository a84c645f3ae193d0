"""Commands for generated datasets: generate, load, demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

import reetrace
from reetrace.cli.common import db_option, errors_to_click, json_option, print_json, store_for


@click.command("generate")
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--year", default=2025, show_default=True, help="The year generated.")
@click.option(
    "--months", default=12, show_default=True, type=click.IntRange(1, 12), help="Months from January."
)
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.01, 10_000),
              help="Size: 1 is a demo (thousands of events), 300 over a million edges.")  # fmt: skip
@click.option("--seed", default=0, show_default=True, help="The same seed gives the same bytes.")
@click.option("--inject", "inject", default="", metavar="KIND[,KIND…]",
              help=f"Violations to inject (or 'all'): {', '.join(reetrace.INJECTION_KINDS)}.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@json_option
@errors_to_click
def generate_cmd(
    outdir: str, year: int, months: int, scale: float, seed: int, inject: str, fmt: str, as_json: bool
) -> None:
    """Generate a realistic national dataset: registry, monthly submissions, manifest, ground truth.

    China's two groups with quotas in proportion to the 2024 figures, Bayan Obo, Sichuan and ionic-clay
    mines, imports with customs entries, separation, metal, magnets, recycling, trade and exports, each
    enterprise reporting every month. Injected violations are listed in ground_truth.json.

    Example: reetrace generate data/2025 --scale 1 --seed 7 --inject double_draw,late_report
    """
    kinds = [k.strip() for k in inject.split(",") if k.strip()]
    s = reetrace.generate_dataset(
        Path(outdir),
        year=year,
        months=months,
        scale=scale,
        seed=seed,
        inject=kinds,
        fmt=fmt,  # type: ignore[arg-type]  # click.Choice admits only jsonl and csv
    )
    if as_json:
        print_json({"outdir": str(s.outdir), "enterprises": s.enterprises, "events": s.events,
                    "lot_lines": s.lot_lines, "edges": s.edges, "submissions": s.submissions,
                    "injected": [i.kind for i in s.injected]})  # fmt: skip
        return
    click.echo(
        f"wrote {s.outdir}: {s.enterprises} enterprises, {s.events:,} events, {s.lot_lines:,} lot lines, "
        f"{s.edges:,} edges, {s.submissions} submissions"
        + (f"; injected: {', '.join(i.kind for i in s.injected)}" if s.injected else "")
    )


@click.command("load")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--continue-on-error", is_flag=True,
              help="Go on after a file that fails; list failures at the end (exit 1 if any).")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@db_option
@json_option
@errors_to_click
def load_cmd(directory: str, continue_on_error: bool, quiet: bool, db: str, as_json: bool) -> None:
    """Load a folder of monthly files: ENT-YYYY-MM.jsonl or .csv (optionally .gz) with registry.json
    beside them, or a dataset from `reetrace generate` (in its manifest's order).

    Each file is one submission, all or nothing, in its own transaction. Interrupted (Ctrl-C, exit
    130) or stopped by an error, run the same command again to resume: files already recorded with
    the same content are recognised by their hash and skipped without being parsed.

    Example: reetrace load reports/2025-03 --continue-on-error
    """
    total = len(reetrace.read_manifest(Path(directory)))
    with store_for(db, create=True) as store:
        if quiet or as_json or not sys.stderr.isatty():
            summary = reetrace.load_dataset(store, Path(directory), continue_on_error=continue_on_error)
        else:
            with Progress("loading", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=Console(stderr=True), transient=True) as bar:  # fmt: skip
                task = bar.add_task("submissions", total=total)
                summary = reetrace.load_dataset(
                    store, Path(directory), continue_on_error=continue_on_error,
                    on_file=lambda _f, _o: bar.advance(task),
                )  # fmt: skip
    if as_json:
        print_json(summary.to_dict())
    else:
        click.echo(summary.message())
    if summary.failed:
        click.get_current_context().exit(1)


@click.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False), default="reetrace-demo", show_default=True,
              help="Where the generated data and the trace picture go.")  # fmt: skip
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.05, 50))
@click.option("--seed", default=2025, show_default=True)
@db_option
@errors_to_click
def demo_cmd(workdir: str, scale: float, seed: int, db: str) -> None:
    """Generate a realistic year, submit it, trace a magnet lot, audit, verify: the whole product.

    Uses the embedded SQLite default unless --db says otherwise; running it again adds nothing
    (every submission is idempotent).

    Example: reetrace demo
    """
    with store_for(db, create=True) as store:
        report = reetrace.run_demo(store, Path(workdir), Console(), scale=scale, seed=seed)
    if report.missed:
        raise click.ClickException(f"{len(report.missed)} injected violations were not found")
