"""The ASGI app: stores, routes, problem handlers. Stateless: every worker opens its own pools."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

import reetrace
from reetrace.service import problems
from reetrace.service.config import Settings
from reetrace.service.responses import JSON
from reetrace.service.routes import admin, audit, epcis, log, lots, submissions


class NoAdmin(RuntimeError):
    """The store has no admin principal: the service would be unmanageable."""


def create_app(settings: Settings) -> FastAPI:
    """The service over ``settings.db`` (and ``settings.read_db`` for reads)."""
    store = reetrace.open_store(settings.db, lock_timeout=settings.lock_timeout_s)
    if not reetrace.has_admin(store):
        store.dispose()
        raise NoAdmin(
            "no admin principal: create one on this host first, e.g. "
            "reetrace principal add operator --role admin --db URL"
        )
    signer = None
    if settings.log_key:
        from reetrace.tlog.keys import load_key

        try:
            signer = load_key(settings.log_key)
        except Exception:
            store.dispose()
            raise
    # The replica is opened without connecting: one that is down when the service starts makes reads
    # answer 503 until it is back, while writes (which go to the primary) keep working.
    read_store = reetrace.open_store(settings.read_db, read_only=True) if settings.read_db else store

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()
        if read_store is not store:
            read_store.dispose()

    app = FastAPI(
        title="reetrace",
        version=reetrace.__version__,
        summary="Product-flow traceability for rare earths: submissions, lots, traces, audits.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.read_store = read_store
    app.state.signer = signer  # the log's key, or None: no receipts, no signed checkpoint
    problems.install(app)
    for module in (submissions, lots, audit, admin, epcis, log):
        app.include_router(module.router)
    app.add_middleware(epcis.EpcisHeaders)  # GS1 version headers and negotiation under /v1/epcis

    @app.middleware("http")
    async def server_timing(request: Request, call_next: Any) -> Response:
        # How long the server took, for browsers' developer tools and for scripts/bench_web.py: the
        # figure excludes the network, which on a national deployment is not ours to measure.
        t0 = time.perf_counter()
        response: Response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.1f}"
        return response

    # The inspector's workbench: HTML pages over the same library and the same permission matrix.
    from reetrace.web.pages import build_router

    app.include_router(build_router(max_upload=settings.max_upload_bytes))

    @app.get("/health", response_class=JSON, response_model=dict[str, Any], tags=["meta"],
             responses={503: {"description": "The primary database does not answer"}})  # fmt: skip
    async def health() -> Response:
        """Unauthenticated: whether the database answers, and the head position; with ``--read-db``, the
        same for the replica (``read_database``) and how many positions it is behind the primary.

        503 only when the primary does not answer: a replica that is down makes reads answer 503 but
        writes still work, so the host stays in a load balancer's pool (``status``: ``degraded``)."""
        try:
            position, _ = await run_in_threadpool(store.head)
        except Exception as exc:
            return JSON({"status": "unavailable", "database": False, "detail": type(exc).__name__}, 503)
        body: dict[str, Any] = {"status": "ok", "database": True, "position": position}
        if read_store is not store:
            try:
                # Read after the primary's head: a replica is never ahead, so ``behind`` is not negative.
                read_position, _ = await run_in_threadpool(read_store.head)
            except Exception as exc:
                body["status"] = "degraded"
                body["read_database"] = {"database": False, "detail": type(exc).__name__}
            else:
                body["read_database"] = {
                    "database": True, "position": read_position, "behind": max(0, position - read_position),
                }  # fmt: skip
        return JSON(body)

    return app


def app_from_env() -> FastAPI:
    """The app factory uvicorn's workers call (``reetrace serve`` passes settings through the environment)."""
    return create_app(Settings.from_env())
