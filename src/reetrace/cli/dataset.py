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
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@db_option
@errors_to_click
def load_cmd(directory: str, quiet: bool, db: str) -> None:
    """Load a generated dataset (registry, then every submission in manifest order).

    Each submission goes through `reetrace submit` with its recorded time of receipt; loading the
    same dataset again adds nothing.

    Example: reetrace load data/2025 --db postgresql://postgres@localhost/reetrace
    """
    total = len(reetrace.read_manifest(Path(directory)))
    with store_for(db) as store:
        if quiet or not sys.stderr.isatty():
            summary = reetrace.load_dataset(store, Path(directory))
        else:
            with Progress("loading", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=Console(stderr=True), transient=True) as bar:  # fmt: skip
                task = bar.add_task("submissions", total=total)
                summary = reetrace.load_dataset(
                    store, Path(directory), on_submission=lambda _r: bar.advance(task)
                )
    click.echo(
        f"loaded {summary.submissions} submissions: {summary.events:,} new events, "
        f"{summary.lot_lines:,} lot lines, {summary.late} late"
    )


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
    with store_for(db) as store:
        report = reetrace.run_demo(store, Path(workdir), Console(), scale=scale, seed=seed)
    if report.missed:
        raise click.ClickException(f"{len(report.missed)} injected violations were not found")
