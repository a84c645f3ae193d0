"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

import reetrace

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("reetrace.service")


class ProblemError(BaseModel):
    line: int | None = None
    field: str
    reason: str


class ProblemDetail(BaseModel):
    """RFC 9457 problem details; ``errors`` lists every problem of a refused input."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[ProblemError] | None = None
    more: int | None = None


class HTTPProblem(Exception):
    """Raised by routes: becomes a problem response."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        more: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.more = more
        self.headers = headers or {}


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    more: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    if more:
        body["more"] = more
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def input_problem(exc: reetrace.InputError) -> Response:
    """Every problem of a refused file with its line and field, as the CLI lists them; 409 on a conflict."""
    errors = [{"line": p.line, "field": p.field, "reason": p.reason} for p in exc.problems]
    status = 409 if any(p.reason.startswith("conflict:") for p in exc.problems) else 422
    return problem_response(status, str(exc), errors=errors, more=exc.more)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route may give."""
    schema = {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}
    return {
        s: {"model": ProblemDetail, "description": HTTPStatus(s).phrase, "content": {MEDIA_TYPE: schema}}
        for s in statuses
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPProblem)
    async def _problem(_req: Request, exc: HTTPProblem) -> Response:
        return problem_response(exc.status, exc.detail, errors=exc.errors, more=exc.more, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"line": None, "field": ".".join(str(x) for x in e["loc"]), "reason": e["msg"]}
            for e in exc.errors()
        ]
        return problem_response(422, "the request is not valid", errors=errors)

    @app.exception_handler(reetrace.InputError)
    async def _input(_req: Request, exc: reetrace.InputError) -> Response:
        return input_problem(exc)

    @app.exception_handler(reetrace.Busy)
    async def _busy(_req: Request, exc: reetrace.Busy) -> Response:
        return problem_response(503, f"the log is busy: {exc}", headers={"Retry-After": "2"})

    @app.exception_handler(reetrace.Unavailable)
    async def _unavailable(_req: Request, exc: reetrace.Unavailable) -> Response:
        # The driver's text (host, port) stays in the server's log: it describes our network, not the request.
        log.warning("503: %s", exc)
        which = "the read replica" if exc.read_only else "the database"
        return problem_response(503, f"{which} does not answer; retry later", headers={"Retry-After": "5"})

    @app.exception_handler(sa.exc.OperationalError)
    async def _operational(_req: Request, exc: sa.exc.OperationalError) -> Response:
        # A connection lost mid-request, or a replica cancelling a query whose rows its WAL replay must
        # remove ("conflict with recovery"): the database's state, not the request, so 503 and retry.
        log.warning("503: %s", (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0])
        return problem_response(503, "the database could not answer this request; retry later",
                                headers={"Retry-After": "5"})  # fmt: skip

    @app.exception_handler(reetrace.NotRegistered)
    async def _unregistered(_req: Request, exc: reetrace.NotRegistered) -> Response:
        return problem_response(422, str(exc))

    @app.exception_handler(reetrace.LotNotFound)
    async def _no_lot(_req: Request, exc: reetrace.LotNotFound) -> Response:
        return problem_response(404, str(exc))

    @app.exception_handler(reetrace.PrincipalError)
    async def _principal(_req: Request, exc: reetrace.PrincipalError) -> Response:
        return problem_response(409 if "already exists" in str(exc) else 422, str(exc))

    @app.exception_handler(ValueError)
    async def _value(_req: Request, exc: ValueError) -> Response:
        return problem_response(422, str(exc))
