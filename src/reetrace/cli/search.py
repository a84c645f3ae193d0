"""``reetrace lots``: find a lot by code prefix, customs entry, document number or product name."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

import reetrace
from reetrace.cli.common import (
    console,
    db_option,
    errors_to_click,
    json_option,
    parse_period,
    print_json,
    store_for,
)


@click.command("lots")
@click.argument("text", required=False)
@click.option("--enterprise", "-e", help="Only lots held by this enterprise.")
@click.option("--period", "-p", metavar="YYYY-MM", help="Only lots created in this month (Shanghai time).")
@click.option("--form", help="Only lots of this form: ore, concentrate, oxide, metal, magnet…")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Lots per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Lots to skip.")
@click.option("--no-references", is_flag=True,
              help="Match lot codes and product names, not customs entries or document numbers.")  # fmt: skip
@db_option
@json_option
@errors_to_click
def lots_cmd(
    text: str | None, enterprise: str | None, period: str | None, form: str | None, limit: int,
    offset: int, no_references: bool, db: str, as_json: bool,
) -> None:  # fmt: skip
    """Find lots: TEXT is a lot code prefix (with or without ENT:, any case), a customs entry or a
    document number (waybill, invoice… of the event that created or drew the lot), or part of a product
    name (3 characters or more). Lots of a matching number come first, then codes, then products.

    Example: reetrace lots mag-2503 --form magnet   (also: reetrace lots 530420250311001;
    reetrace lots -e NBMAG -p 2025-03 --limit 20 --offset 20)
    """
    period = parse_period(period)
    with store_for(db) as store:
        found = reetrace.search_lots(
            store, text, enterprise=enterprise, period=period, form=form, limit=limit, offset=offset,
            references=not no_references,
        )  # fmt: skip
    if as_json:
        print_json(found.to_dict())
        return
    out = console()
    t = Table("lot", "form", "product", "kg", "REO kg", "created", "event", "matched")
    for h in found.hits:
        t.add_row(*map(escape, (h.lot, h.form, h.product, f"{h.mass_kg:,.1f}", f"{h.reo_kg:,.1f}",
                                h.occurred_at, h.event_id, h.matched)))  # fmt: skip
    out.print(t)
    more = f"; more with --offset {offset + limit}" if found.more else ""
    out.print(f"{len(found.hits)} lot(s) from {offset + 1 if found.hits else offset}{more}")
