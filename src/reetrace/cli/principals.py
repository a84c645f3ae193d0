"""``reetrace principal`` and ``reetrace token``: identities of the service, recorded in the log.

These run on the server's host with the database URL (the first admin is made this way); over the
service, an admin does the same through ``/v1/principals`` and ``/v1/tokens``.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

import reetrace
from reetrace.cli.common import db_option, errors_to_click, json_option, parse_time, print_json, store_for

console = Console()


@click.group("principal")
def principal_group() -> None:
    """Identities that may use the service: enterprises, inspectors, admins."""


@principal_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["enterprise", "inspector", "admin"]))
@click.option("--enterprise", metavar="CODE", help="The enterprise it acts for (role enterprise only).")
@db_option
@errors_to_click
def principal_add(name: str, role: str, enterprise: str | None, db: str) -> None:
    """Record a principal (a log record: hash-chained, never rewritten).

    Example: reetrace principal add nmsep-reporting --role enterprise --enterprise NMSEP
    """
    with store_for(db) as store:
        pos = reetrace.add_principal(store, name, role, enterprise=enterprise)
    who = f"{role} for {enterprise}" if enterprise else role
    click.echo(f"principal {name} ({who}) recorded at position {pos}")


@principal_group.command("list")
@db_option
@json_option
@errors_to_click
def principal_list(db: str, as_json: bool) -> None:
    """List principals and their tokens (ids only: the store never holds a token).

    Example: reetrace principal list
    """
    with store_for(db) as store:
        rows = reetrace.list_principals(store)
    if as_json:
        print_json(rows)
        return
    t = Table("name", "role", "enterprise", "tokens (id, expires, revoked)")
    for p in rows:
        toks = ", ".join(
            f"{k['id']}" + (f" exp {k['expires_at'][:10]}" if k["expires_at"] else "")
            + (" REVOKED" if k["revoked_at"] else "")
            for k in p["tokens"]
        )  # fmt: skip
        t.add_row(p["name"], p["role"], p["enterprise"] or "", toks)
    console.print(t)


@click.group("token")
def token_group() -> None:
    """Bearer tokens of principals."""


@token_group.command("issue")
@click.argument("name")
@click.option("--expires", metavar="DATE", help="Expiry: YYYY-MM-DD (Asia/Shanghai) or ISO 8601.")
@db_option
@errors_to_click
def token_issue(name: str, expires: str | None, db: str) -> None:
    """Issue a token for principal NAME and print it once; the store keeps only its SHA-256.

    Example: REETRACE_TOKEN=$(reetrace token issue nmsep-reporting --expires 2026-12-31)
    """
    when = parse_time(expires, param_hint="--expires", dates=True)
    with store_for(db) as store:
        issued = reetrace.issue_token(store, name, expires_at=when)
    click.echo(f"token {issued.id} for {name} recorded at position {issued.position}; shown once:", err=True)
    click.echo(issued.token)


@token_group.command("revoke")
@click.argument("token_id", metavar="ID")
@db_option
@errors_to_click
def token_revoke(token_id: str, db: str) -> None:
    """Revoke a token by its id (the part after rt_): it stops working at once.

    Example: reetrace token revoke 3f9a0c12b7de
    """
    with store_for(db) as store:
        pos = reetrace.revoke_token(store, token_id)
    click.echo(
        f"token {token_id} " + ("was already revoked" if pos is None else f"revoked at position {pos}")
    )
