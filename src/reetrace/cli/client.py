"""The CLI as a client of ``reetrace serve``: ``--server URL`` (or ``REETRACE_SERVER``) with the token in
``REETRACE_TOKEN``. Commands fetch over HTTP what they would compute locally and print it the same way;
a problem response becomes the same error text the local command gives.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
TIMEOUT_S = 600.0


def server_option(f: F) -> F:
    """``--server URL``: talk to a reetrace service instead of opening the database."""
    return click.option(
        "--server", "server", envvar="REETRACE_SERVER", metavar="URL",
        help="A reetrace service (env REETRACE_SERVER); the token is read from REETRACE_TOKEN.",
    )(f)  # fmt: skip


def _client(server: str) -> Any:
    import httpx

    token = os.environ.get("REETRACE_TOKEN")
    if not token:
        raise click.ClickException("--server needs a token in REETRACE_TOKEN (reetrace token issue NAME)")
    from reetrace import __version__

    headers = {"Authorization": f"Bearer {token}", "User-Agent": f"reetrace-cli/{__version__}"}
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=TIMEOUT_S)


def _raise_problem(resp: Any, file: str = "") -> None:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    detail = body.get("detail") or body.get("title") or f"HTTP {resp.status_code}"
    lines = [f"{detail} (HTTP {resp.status_code})" if resp.status_code in (401, 403, 413, 503) else detail]
    for e in body.get("errors") or []:
        where = f"{file}:{e['line']}" if file and e.get("line") is not None else f"line {e.get('line')}"
        lines.append(
            f"  {where}: {e['field']}: {e['reason']}" if e.get("field") else f"  {where}: {e['reason']}"
        )
    if body.get("more"):
        lines.append(f"  … and {body['more']} more")
    raise click.ClickException("\n".join(lines))


def request(server: str, method: str, path: str, *, file: str = "", **kw: Any) -> Any:
    """One request; the response, or a ClickException with the problem's text."""
    import httpx

    try:
        with _client(server) as c:
            resp = c.request(method, path, **kw)
    except httpx.TransportError as exc:
        raise click.ClickException(f"cannot reach {server}: {exc}") from exc
    if resp.status_code >= 400:
        _raise_problem(resp, file)
    return resp


def get_json(server: str, path: str, params: dict[str, Any] | None = None) -> Any:
    return request(
        server, "GET", path, params={k: v for k, v in (params or {}).items() if v is not None}
    ).json()


def submit(
    server: str, file: str, *, enterprise: str, period: str, received_at: str | None, fmt: str | None
) -> dict[str, Any]:
    """Upload FILE (streamed) and return the receipt."""
    import sys

    name = "<stdin>" if file == "-" else file
    params: dict[str, Any] = {"enterprise": enterprise, "period": period}
    if file != "-":
        params["filename"] = Path(file).name
    if fmt:
        params["format"] = fmt
    if received_at:
        params["received_at"] = received_at
    fh: IO[bytes]
    if file == "-":
        fh = sys.stdin.buffer
        body: Any = iter(lambda: fh.read(1 << 16), b"")
        receipt: dict[str, Any] = request(server, "POST", "/v1/submissions", file=name, params=params,
                                          content=body).json()  # fmt: skip
        return receipt
    if not Path(file).exists():
        raise click.ClickException(f"{file}: no such file")
    with open(file, "rb") as f:  # streamed in chunks, with its Content-Length
        receipt = request(server, "POST", "/v1/submissions", file=name, params=params, content=f).json()
    return receipt


def trace(
    server: str, lot: str, *, forward: bool, fmt: str, output: str | None, findings: bool, max_nodes: int
) -> None:
    """``reetrace trace --server``: the service renders what the local command would (the same bytes
    for every format but json, whose document is the local one too once put in the same stable form);
    an enterprise gets its origin summary."""
    import sys

    from reetrace.cli.common import json_bytes, write_output
    from reetrace.cli.trace import stable_trace

    params: dict[str, Any] = {
        "direction": "forward" if forward else "back",
        "format": "text" if fmt == "tree" else fmt,
        "findings": str(findings).lower(),
    }
    if fmt in ("svg", "png"):
        params["max_nodes"] = max_nodes
    resp = request(server, "GET", f"/v1/lots/{lot}/trace", params=params)
    data = json_bytes(stable_trace(resp.json())) if fmt == "json" else resp.content
    if output:
        write_output(output, data)
        if fmt in ("svg", "png"):
            click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def audit_result(data: dict[str, Any]) -> Any:
    """An ``AuditResult`` from the service's JSON, for the CLI's table."""
    from datetime import datetime

    import reetrace

    findings = [
        reetrace.Finding(
            rule=f["rule"],
            severity=f["severity"],
            enterprise=f["enterprise"],
            summary=f["summary"],
            lots=tuple(f["lots"]),
            events=tuple(f["events"]),
            period=f["period"],
            detail=f["detail"],
            event_ids=tuple(f["event_ids"]),
        )
        for f in data["findings"]
    ]
    return reetrace.AuditResult(
        findings=findings, timings=data["timings_s"], as_of=datetime.fromisoformat(data["as_of"]),
        period_from=data["period_from"], period_to=data["period_to"], enterprise=data["enterprise"],
        tolerances=reetrace.Tolerances(**data["tolerances"]),
    )  # fmt: skip


def audit(
    server: str, params: dict[str, Any], *, as_json: bool, as_csv: bool, print_table: Callable[[Any], None]
) -> None:
    """``reetrace audit --server``: the same JSON, CSV or table as a local audit."""
    import sys

    from reetrace.cli.common import print_json

    query = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in params.items() if v}
    query["format"] = "csv" if as_csv else "json"
    resp = request(server, "GET", "/v1/audit", params=query)
    if as_csv:
        sys.stdout.write(resp.text)
    elif as_json:
        print_json(resp.json())
    else:
        print_table(audit_result(resp.json()))


def submissions_status(server: str, period: str, as_of: Any) -> list[Any]:
    """``reetrace submissions status --server``: rows with the attributes of the library's."""
    from types import SimpleNamespace

    params = {"period": period, "as_of": as_of.isoformat() if as_of else None}
    return [SimpleNamespace(**r) for r in get_json(server, "/v1/submissions/status", params)["rows"]]
