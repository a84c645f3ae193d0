"""Submissions: upload a month (streamed to disk, then ``reetrace.submit``), list a period, a receipt."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

import reetrace
from reetrace.service.auth import CurrentPrincipal, PrimaryStore, ReadStore
from reetrace.service.permissions import Resource, require
from reetrace.service.problems import HTTPProblem, responses
from reetrace.service.responses import JSON

router = APIRouter(prefix="/v1/submissions", tags=["submissions"])

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_UPLOAD_BODY = {
    "required": True,
    "description": "The month's file: JSON Lines or CSV, optionally gzip-compressed.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
Period = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Code = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def receipt_of(result: reetrace.SubmissionResult, submitter: dict[str, Any], given: bool) -> dict[str, Any]:
    return {
        "enterprise": result.enterprise, "period": result.period, "source": result.source,
        "position": result.position, "noop": result.noop, "new_events": result.new_events,
        "unchanged_events": result.unchanged_events, "lot_lines": result.lot_lines,
        "received_at": result.received_at.isoformat(), "received_at_given": given,
        "deadline": result.deadline.isoformat(),
        "late": result.late, "digest": result.digest, "submitter": submitter,
        "message": result.message(),
    }  # fmt: skip


async def _spool(request: Request, path: str, limit: int) -> int:
    """Stream the request body to ``path``; 413 as soon as it passes ``limit`` bytes."""
    size = 0
    with open(path, "wb") as fh:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPProblem(413, f"the upload is larger than the limit of {limit} bytes")
            fh.write(chunk)
    return size


@router.post(
    "",
    status_code=201,
    response_class=JSON,
    response_model=dict[str, Any],
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        200: {"description": "Nothing changed: the content is already recorded"},
        **responses(401, 403, 409, 413, 422, 503),
    },
)
async def submit_month(
    request: Request,
    principal: CurrentPrincipal,
    store: PrimaryStore,
    enterprise: Code,
    period: Period,
    format: Annotated[Literal["jsonl", "csv"] | None, Query()] = None,
    filename: Annotated[str | None, Query(max_length=200)] = None,
    received_at: Annotated[datetime | None, Query(description="Admins only: a historical load")] = None,
) -> Response:
    """Submit one enterprise's month. The body streams to disk; nothing is written unless all of it is valid.

    201 with the receipt; 200 when nothing changed; 422 listing every error with its line and field; 409
    for an event id already recorded with other content; 413 over the size limit; 503 when the log is busy.
    """
    require(principal, "submission.create", Resource(enterprise=enterprise))
    if received_at is not None:
        require(principal, "submission.received_at")
        if received_at.tzinfo is None:
            raise HTTPProblem(422, "received_at needs an offset, e.g. 2025-04-08T09:30:00+08:00")
    limit: int = request.app.state.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"the upload is larger than the limit of {limit} bytes")
    name = _SAFE_NAME.sub("_", filename or f"{enterprise}-{period}.{format or 'jsonl'}")[:200]
    fmt = format or ("csv" if name.lower().removesuffix(".gz").endswith(".csv") else "jsonl")
    submitter = {
        "principal": principal.name,
        "token": principal.token_id,
        "address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }
    with tempfile.TemporaryDirectory(prefix="reetrace-upload-") as tmp:
        path = os.path.join(tmp, "upload")
        try:
            await _spool(request, path, limit)
        except ClientDisconnect:
            raise HTTPProblem(400, "the client went away before the upload was complete") from None
        result = await run_in_threadpool(
            reetrace.submit, store, path, enterprise=enterprise, period=period, received_at=received_at,
            fmt=fmt, submitter=submitter, name=name, signer=request.app.state.signer,
        )  # fmt: skip
    body = receipt_of(result, submitter, received_at is not None)
    if result.receipt is not None:
        body["receipt"] = orjson.loads(result.receipt)
    return JSON(body, status_code=200 if result.noop else 201)


@router.get("", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 422))
def list_period(
    principal: CurrentPrincipal,
    primary: PrimaryStore,
    replica: ReadStore,
    period: Period,
    enterprise: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    """The submissions of a period, with who submitted them and when (an enterprise: its own only)."""
    if principal.role == "enterprise" and enterprise is None:
        enterprise = principal.enterprise
    require(principal, "submission.read", Resource(enterprise=enterprise))
    # An enterprise lists its own receipts, typically right after submitting: from the primary, like
    # the receipt itself and the workbench's /mine (read-your-writes; one enterprise's month is small).
    # Inspectors' and admins' overviews of every enterprise go to the replica.
    store = primary if principal.role == "enterprise" else replica
    return {"period": period, "submissions": reetrace.list_submissions(store, period, enterprise)}


@router.get("/status", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 422))
def status(
    principal: CurrentPrincipal,
    store: ReadStore,
    period: Period,
    as_of: Annotated[datetime | None, Query()] = None,
) -> Any:
    """Who reported a period on time, late, or not at all (``reetrace submissions status``)."""
    require(principal, "status.read")
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=reetrace.SHANGHAI)
    rows = [r.to_dict() for r in reetrace.submissions_status(store, period, as_of)]
    # Whether a time of receipt was given (a historical load), and by whom it was submitted: the envelopes.
    given: dict[str, bool] = {}
    by: dict[str, list[str]] = {}
    for env in reetrace.list_submissions(store, period):
        ent = env["enterprise"]
        given[ent] = given.get(ent, False) or bool(env["received_at_given"])
        who = (env.get("submitter") or {}).get("principal")
        if who and who not in by.setdefault(ent, []):
            by[ent].append(who)
    for r in rows:
        r["received_at_given"] = given.get(r["enterprise"], False)
        r["submitted_by"] = by.get(r["enterprise"], [])
    return {"period": period, "rows": rows}


@router.get(
    "/{position}", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 404)
)
def receipt(request: Request, principal: CurrentPrincipal, store: PrimaryStore, position: int) -> Any:
    """The receipt of a submission, read back from the primary (read-your-writes for the submitter).

    When the service has the log's key, ``receipt`` is also a signed Merkle receipt
    (``reetrace-receipt/1``) against a checkpoint of the log signed now."""
    rec = reetrace.submission_receipt(store, position) if 0 < position < 2**62 else None
    if rec is None:
        raise HTTPProblem(404, f"no submission at position {position}")
    require(principal, "submission.read", Resource(enterprise=rec["enterprise"]))
    signer = request.app.state.signer
    if signer is not None:
        from reetrace.transparency import receipt_at

        rec["receipt"] = orjson.loads(receipt_at(store, signer, position))
    return rec
