"""Lots, their traces and events."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

import reetrace
from reetrace.service.auth import CurrentPrincipal, ReadStore
from reetrace.service.permissions import Resource, allowed, require
from reetrace.service.problems import HTTPProblem, responses
from reetrace.service.responses import JSON

router = APIRouter(prefix="/v1", tags=["lots"])

Lot = Annotated[str, "ENT:LOT"]
_MEDIA = {
    "dot": "text/vnd.graphviz", "graphml": "application/graphml+xml", "svg": "image/svg+xml",
    "png": "image/png", "text": "text/plain; charset=utf-8",
}  # fmt: skip
#: Most lots a picture may draw: the CLI's ``--max-nodes`` is the user's own CPU, the service's is shared.
MAX_PICTURE_NODES = 500


def _text(render: Any) -> Response:
    """What ``reetrace trace`` prints, as plain text (the CLI's ``--server`` prints it as is)."""
    from rich.console import Console

    buf = io.StringIO()
    render(Console(file=buf, width=120, no_color=True, highlight=False))
    return Response(buf.getvalue(), media_type=_MEDIA["text"])


def _print_summary(summary: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    console.print(f"Trace back (origin summary): {summary['lot']}")
    t = Table("origin", "id", "REO", title="Origins (share of the lot's REO)")
    for o in summary["origins"]:
        t.add_row(o["kind"], o["id"] or "(another enterprise's lot)", f"{o['share'] * 100:.1f}%")
    console.print(t)
    p = Table("site", "enterprise", "share of REO", title="Separation plants on the paths")
    for s in summary["separation_plants"]:
        p.add_row(s["site"] or "", s["enterprise"], f"{s['share'] * 100:.1f}%")
    console.print(p)


def _holders(store: reetrace.Store, lot: str) -> Resource:
    try:
        return Resource(holders=reetrace.lot_holders(store, lot))
    except ValueError as exc:
        raise HTTPProblem(422, str(exc)) from None


@router.get("/lots", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 422))
def search_lots(
    principal: CurrentPrincipal,
    store: ReadStore,
    prefix: Annotated[str, Query(min_length=1, max_length=130)],
    enterprise: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Lots whose reference starts with ``prefix``, exactly (case and ``ENT:`` included), newest first (an
    enterprise: its own lots only). ``GET /v1/search`` is the search box: any case, documents, filters."""
    if principal.role == "enterprise" and enterprise is None:
        enterprise = principal.enterprise
    require(principal, "lot.search", Resource(enterprise=enterprise))
    return {"lots": reetrace.find_lots(store, prefix, enterprise=enterprise, limit=limit)}


@router.get("/search", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 422))
def search(
    principal: CurrentPrincipal,
    store: ReadStore,
    q: Annotated[str | None, Query(max_length=200, description="lot-code prefix (any case, with or without "
                                   "ENT:), customs entry, document number or part of a product name")] = None,
    enterprise: Annotated[str | None, Query(max_length=64, description="the lots' holder")] = None,
    period: Annotated[str | None, Query(max_length=7, description="YYYY-MM of the creating event")] = None,
    form: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Any:  # fmt: skip
    """The workbench's search box as JSON: lots matching every criterion given, a page at a time
    (``more``: a further page exists), and, when a text finds nothing, ``did_you_mean``: the closest
    recorded lot codes. An enterprise searches its own lots only (another's: 403)."""
    if principal.role == "enterprise" and enterprise is None:
        enterprise = principal.enterprise
    require(principal, "lot.search", Resource(enterprise=enterprise))
    if not (q or enterprise or period or form):
        raise HTTPProblem(422, "give q, enterprise, period or form")
    try:
        found = reetrace.search_lots(
            store, text=q, enterprise=enterprise, period=period, form=form, limit=limit, offset=offset
        )
    except ValueError as exc:
        raise HTTPProblem(422, str(exc)) from None
    body = found.to_dict()
    if not found.hits and q:
        body["did_you_mean"] = [
            s for s in reetrace.similar_lots(store, q) if enterprise is None or s.startswith(enterprise + ":")
        ]
    return body


@router.get(
    "/lots/{lot}", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 404, 422)
)
def lot(principal: CurrentPrincipal, store: ReadStore, lot: str) -> Any:
    """A lot: the event that created it and the events that drew from it (an enterprise: its own events)."""
    res = _holders(store, lot)
    require(principal, "lot.read", res)
    rep = reetrace.lot_report(store, lot)
    if not rep["created_by"] and not rep["drawn_by"]:
        raise HTTPProblem(404, f"{rep['lot']}: no event mentions this lot")
    if not allowed(principal, "trace.full"):  # an enterprise: only its own part of the history
        assert principal.enterprise is not None
        rep = reetrace.own_lot_report(rep, principal.enterprise)
    return rep


@router.get(
    "/lots/{lot}/trace",
    response_class=JSON,
    response_model=dict[str, Any],
    responses={200: {"content": {m: {} for m in _MEDIA.values()}}, **responses(401, 403, 404, 422)},
)
def trace(
    principal: CurrentPrincipal,
    store: ReadStore,
    lot: str,
    direction: Annotated[Literal["back", "forward"], Query()] = "back",
    format: Annotated[Literal["json", "text", "svg", "png", "dot", "graphml"], Query()] = "json",
    findings: Annotated[bool, Query()] = True,
    max_nodes: Annotated[
        int, Query(ge=1, le=MAX_PICTURE_NODES, description="svg, png: most lots drawn")
    ] = reetrace.PICTURE_MAX_NODES,
) -> Any:
    """Trace a lot back to its origins or forward to where it went.

    Inspectors get the full trace in every format. An enterprise that holds or held the lot gets the
    origin summary (origin kinds, ids and shares; separation plants), without others' lots and masses.
    """
    res = _holders(store, lot)
    if not allowed(principal, "trace.full", res):
        require(principal, "trace.summary", res)
        if direction != "back" or format not in ("json", "text"):
            raise HTTPProblem(
                403, "an enterprise gets the origin summary only (direction=back, json or text)"
            )
        with store.reading() as conn:
            back = reetrace.trace_back(conn, lot)
        assert principal.enterprise is not None
        summary = reetrace.origin_summary(back, principal.enterprise)
        if format == "text":
            return _text(lambda console: _print_summary(summary, console))
        return summary
    hook = reetrace.audit_findings if findings else None
    result: reetrace.BackTrace | reetrace.ForwardTrace
    with store.reading() as conn:
        if direction == "forward":
            result = reetrace.trace_forward(conn, lot, findings_for=hook)
        else:
            result = reetrace.trace_back(conn, lot, findings_for=hook)
    if format == "json":
        return result.to_dict()
    if format == "text":
        return _text(lambda console: reetrace.print_trace(result, console))
    if format in ("svg", "png"):
        # The very drawing ``reetrace trace --format svg|png`` makes, so ``--server`` writes the same file.
        buf = io.BytesIO()
        reetrace.render_picture(result, buf, format, max_nodes=max_nodes)
        return Response(buf.getvalue(), media_type=_MEDIA[format])
    graph = reetrace.trace_graph(result)
    text = reetrace.graph_to_dot(graph) if format == "dot" else reetrace.graph_to_graphml(graph)
    return Response(text, media_type=_MEDIA[format])


@router.get("/events", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 422))
def events(
    principal: CurrentPrincipal,
    store: ReadStore,
    enterprise: Annotated[str, Query(min_length=1, max_length=64)],
    period: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
) -> Any:
    """An enterprise's recorded events, with their records (an enterprise: its own only)."""
    require(principal, "events.read", Resource(enterprise=enterprise))
    return {"enterprise": enterprise, "events": reetrace.list_events(store, enterprise, period)}
