"""Commands of the audit: ``audit``, ``quota report``, ``submissions status``."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson
from rich.console import Console
from rich.table import Table

import reetrace
from reetrace.cli.client import server_option
from reetrace.cli.common import db_option, errors_to_click, json_option, parse_time, print_json, store_for

if TYPE_CHECKING:
    from reetrace import AuditResult

console = Console()
F = TypeVar("F", bound=Callable[..., Any])
_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def parse_as_of(value: str | None) -> datetime | None:
    return parse_time(value, param_hint="--as-of", dates=True)


def as_of_option(f: F) -> F:
    return click.option(
        "--as-of", "as_of", metavar="DATE",
        help="The moment the audit stands on: YYYY-MM-DD (start of day, Asia/Shanghai) or ISO 8601. "
        "Deadlines after it are not yet missed. Default: now.",
    )(f)  # fmt: skip


@click.command("audit")
@click.option("--from", "period_from", metavar="YYYY-MM", help="First period of findings.")
@click.option("--to", "period_to", metavar="YYYY-MM", help="Last period of findings.")
@as_of_option
@click.option("--enterprise", metavar="E", help="Only findings about this enterprise.")
@click.option(
    "--rule", "rules", multiple=True, type=click.Choice(list(reetrace.RULES)),
    help="Run only this rule (repeatable). Default: all ten.",
)  # fmt: skip
@click.option(
    "--tolerance", "tolerances", multiple=True, metavar="NAME=VALUE",
    help=f"Override a tolerance (repeatable). Names: {', '.join(reetrace.Tolerances().to_dict())}.",
)  # fmt: skip
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV, one finding per row.")
@db_option
@server_option
@errors_to_click
def audit_cmd(
    period_from: str | None,
    period_to: str | None,
    as_of: str | None,
    enterprise: str | None,
    rules: tuple[str, ...],
    tolerances: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    db: str,
    server: str | None = None,
) -> None:
    """Run the audit rules (docs/contract/audit-rules.md) and print their findings.

    Rules: overdrawn_lot, output_exceeds_input, unexplained_lot, unmatched_custody,
    unauthorised_actor, quota_exceeded, reporting, impossible_time, stock_gain,
    period_mass_balance. Every finding names the rule, its severity, the enterprise, the lots and
    events, and the numbers that break it.

    Example: reetrace audit --from 2025-01 --to 2025-06 --as-of 2025-07-11 --json
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    tol = reetrace.Tolerances().with_overrides(tolerances)
    if server:
        from reetrace.cli import client

        when = parse_as_of(as_of)
        params = {
            "from": period_from, "to": period_to, "as_of": when.isoformat() if when else None,
            "enterprise": enterprise, "rule": list(rules) or None, "tolerance": list(tolerances) or None,
            "format": "csv" if as_csv else "json",
        }  # fmt: skip
        if as_csv:
            sys.stdout.write(client.request(server, "GET", "/v1/audit", params=client.clean(params)).text)
            return
        data = client.get_json(server, "/v1/audit", params)
        print_json(data) if as_json else _print_table(client.audit_result(data))
        return
    with store_for(db) as store:
        result = reetrace.run_audit(
            store, period_from=period_from, period_to=period_to, as_of=parse_as_of(as_of),
            enterprise=enterprise, rules=rules or None, tolerances=tol,
        )  # fmt: skip
    if as_json:
        print_json(result.to_dict())
    elif as_csv:
        _print_csv(result)
    else:
        _print_table(result)


def _print_csv(result: AuditResult) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["rule", "severity", "enterprise", "period", "summary", "lots", "events",
                "event_ids", "detail"])  # fmt: skip
    for f in result.findings:
        w.writerow([
            f.rule, f.severity, f.enterprise or "", f.period or "", f.summary, " ".join(f.lots),
            " ".join(map(str, f.events)), " ".join(f.event_ids),
            orjson.dumps(f.detail, option=orjson.OPT_SORT_KEYS).decode(),
        ])  # fmt: skip


def _print_table(result: AuditResult) -> None:
    t = Table("severity", "rule", "enterprise", "period", "finding", "lots", title="findings")
    for f in result.findings:
        lots = ", ".join(f.lots[:3]) + (f" (+{len(f.lots) - 3})" if len(f.lots) > 3 else "")
        t.add_row(
            f"[{_STYLE[f.severity]}]{f.severity}[/]", f.rule, f.enterprise or "", f.period or "",
            f.summary, lots,
        )  # fmt: skip
    if result.findings:
        console.print(t)
    counts = result.counts()
    s = Table("rule", "findings", "seconds", title=f"audit as of {result.as_of.isoformat()}")
    for rule, secs in result.timings.items():
        s.add_row(rule, str(counts.get(rule, 0)), f"{secs:.3f}")
    console.print(s)
    console.print(f"{len(result.findings)} finding(s)")


@click.group("quota")
def quota_group() -> None:
    """Quotas against use."""


@quota_group.command("report")
@click.option("--year", type=int, required=True, help="Quota year.")
@json_option
@db_option
@errors_to_click
def quota_report_cmd(year: int, as_json: bool, db: str) -> None:
    """Mining and separation quota (sum of the year's batches) against use, t REO.

    One row per group and per enterprise with a quota or a use; a group's use is its members'.
    Separation use includes imported feed, shown apart in its own column.

    Example: reetrace quota report --year 2025
    """
    with store_for(db) as store:
        rows = reetrace.quota_report(store, year)
    if as_json:
        print_json({"year": year, "rows": [r.to_dict() for r in rows]})
        return
    t = Table(
        "holder", "kind", "name", "mining quota", "mining use", "separation quota",
        "separation use", "of which imported", title=f"quotas {year}, t REO",
    )  # fmt: skip
    for r in rows:
        t.add_row(
            r.holder, r.kind, r.name, _t(r.mining_quota_t), _use(r.mining_use_t, r.mining_quota_t),
            _t(r.separation_quota_t), _use(r.separation_use_t, r.separation_quota_t),
            _t(r.separation_imported_t),
        )  # fmt: skip
    console.print(t)


def _t(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}"


def _use(v: float, quota: float | None) -> str:
    if quota is None or quota <= 0:
        return _t(v)
    text = f"{v:,.1f} ({v / quota * 100:.1f}%)"
    return f"[bold red]{text}[/]" if v > quota else text


@click.group("submissions")
def submissions_group() -> None:
    """Monthly submissions."""


@submissions_group.command("status")
@click.option("--period", required=True, metavar="YYYY-MM", help="The reporting period.")
@as_of_option
@json_option
@db_option
@server_option
@errors_to_click
def submissions_status_cmd(
    period: str, as_of: str | None, as_json: bool, db: str, server: str | None = None
) -> None:
    """Who reported a period on time, late, or not at all.

    Lists every registered enterprise and every submitter. "missing" means the deadline (the 10th
    of the next month, 23:59:59 Asia/Shanghai) has passed with nothing received; "not_due" that it
    has not yet. "active" says whether the enterprise owes the report (it reported in that year).

    Example: reetrace submissions status --period 2025-03 --as-of 2025-04-11
    """
    if server:
        from types import SimpleNamespace

        from reetrace.cli import client

        when = parse_as_of(as_of)
        data = client.get_json(server, "/v1/submissions/status",
                               {"period": period, "as_of": when.isoformat() if when else None})  # fmt: skip
        rows: list[Any] = [SimpleNamespace(**r) for r in data["rows"]]
    else:
        with store_for(db) as store:
            rows = reetrace.submissions_status(store, period, parse_as_of(as_of))
    if as_json:
        print_json({"period": period, "rows": [vars(r) if server else r.to_dict() for r in rows]})
        return
    style = {"on_time": "green", "late": "yellow", "missing": "bold red", "not_due": "dim"}
    t = Table("enterprise", "name", "status", "active", "received", "files",
              title=f"submissions {period}")  # fmt: skip
    for r in rows:
        received = (
            datetime.fromisoformat(r.received_at).astimezone(reetrace.SHANGHAI).strftime("%Y-%m-%d %H:%M")
            if r.received_at else ""
        )  # fmt: skip
        t.add_row(r.enterprise, r.name or "", f"[{style[r.status]}]{r.status}[/]",
                  "yes" if r.active else "no", received, str(r.submissions))  # fmt: skip
    console.print(t)
