"""The inspector's workbench: server-rendered pages over the same library and authorisation as the API.

Each page is a thin view: it asks the service's one authorisation question
(``permissions.allowed``), calls the public
library API (:mod:`reetrace`), and renders a template in the reader's language. Nothing here decides
what a principal may see; nothing here computes a trace or a finding.
"""

from __future__ import annotations

import csv
import functools
import inspect
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

import reetrace
from reetrace import Principal
from reetrace.service.auth import primary, replica
from reetrace.service.permissions import ANY, Resource, allowed
from reetrace.web import i18n
from reetrace.web.session import COOKIE, LANG_COOKIE, csrf_ok, csrf_token, safe_next
from reetrace.web.svg import lot_href, render_svg
from reetrace.web.vocabulary import FORMS

PAGE = 50
FINDINGS_SHOWN = 500


class _Denied(Exception):
    def __init__(self, status: int, title: str, message: str, suggestions: list[str] | None = None):
        self.status, self.title, self.message, self.suggestions = status, title, message, suggestions or []


def build_router(*, max_upload: int = 256 << 20) -> APIRouter:
    """The pages, for the service to mount at ``/`` (it provides ``app.state.store``/``read_store``)."""
    router = APIRouter(include_in_schema=False)
    static = StaticFiles(directory=str(i18n.HERE / "static"))

    # -- plumbing ---------------------------------------------------------------------------------

    def lang_of(request: Request) -> str:
        return i18n.negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))

    def store(request: Request) -> reetrace.Store:
        return primary(request)

    def reads(request: Request) -> reetrace.Store:
        return replica(request)

    def principal_of(request: Request) -> Principal | None:
        token = request.cookies.get(COOKIE)
        return reetrace.authenticate(primary(request), token) if token else None

    def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        env = i18n.environment(lang)
        token = request.cookies.get(COOKIE)
        html = env.get_template(template).render(
            request_path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            csrf=csrf_token(token) if token else "",
            lot_href=lot_href,
            **ctx,
        )
        return HTMLResponse(html, status_code=status, headers={"Content-Language": lang})

    def t(request: Request, message: str, **params: Any) -> str:
        return i18n.gettext(lang_of(request), message, **params)

    def denied(request: Request, principal: Principal, exc: _Denied) -> HTMLResponse:
        return render(
            request, "error.html", status=exc.status, principal=principal, code=exc.status,
            title=exc.title, message=exc.message, suggestions=exc.suggestions,
        )  # fmt: skip

    def page(handler: Callable[..., Response]) -> Callable[..., Response]:
        """Sign-in wall and the 403/404 pages, for every page handler."""

        def wrapped(request: Request, *args: Any, **kwargs: Any) -> Response:
            principal = principal_of(request)
            if principal is None:
                return RedirectResponse(
                    "/signin?" + urlencode({"next": str(request.url.path)}), status_code=303
                )
            try:
                return handler(request, principal, *args, **kwargs)
            except _Denied as exc:
                return denied(request, principal, exc)
            except reetrace.Unavailable as exc:
                # A replica (or the primary) that is down: a page saying so, not the API's JSON problem.
                if exc.read_only:
                    what = t(request, "The read replica does not answer.")
                else:
                    what = t(request, "The database does not answer.")
                down = _Denied(503, t(request, "Unavailable"), f"{what} {t(request, 'Try again later.')}")
                resp = denied(request, principal, down)
                resp.headers["Retry-After"] = "5"
                return resp

        functools.update_wrapper(wrapped, handler)
        # FastAPI reads the parameters from the signature: the page's own, less the principal it is given.
        sig = inspect.signature(handler)
        params = [p for name, p in sig.parameters.items() if name != "principal"]
        wrapped.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapped

    def require(request: Request, principal: Principal, action: str, resource: Resource = ANY) -> None:
        if not allowed(principal, action, resource):
            raise _Denied(403, t(request, "Not allowed"), t(request, "Your role may not see this page."))

    # -- signing in -------------------------------------------------------------------------------

    @router.get("/static/{path:path}")
    async def static_file(request: Request, path: str) -> Response:
        return await static.get_response(path, request.scope)

    @router.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request, next: str = "/") -> HTMLResponse:
        return render(request, "signin.html", principal=None, next=safe_next(next), error=None)

    @router.post("/signin")
    def signin(request: Request, token: str = Form(...), next: str = Form("/")) -> Response:
        principal = reetrace.authenticate(primary(request), token.strip())
        if principal is None:
            return render(
                request, "signin.html", status=401, principal=None, next=safe_next(next),
                error=t(request, "That token is unknown, expired or revoked."),
            )  # fmt: skip
        resp = RedirectResponse(safe_next(next), status_code=303)
        resp.set_cookie(
            COOKIE, token.strip(), httponly=True, samesite="strict",
            secure=request.url.scheme == "https", path="/",
        )  # fmt: skip
        return resp

    @router.post("/signout")
    def signout(request: Request, csrf: str = Form("")) -> Response:
        if not csrf_ok(request.cookies.get(COOKIE), csrf):
            return Response("CSRF check failed", status_code=403)
        resp = RedirectResponse("/signin", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @router.get("/lang/{code}")
    def switch_language(code: str, next: str = "/") -> Response:
        resp = RedirectResponse(safe_next(next), status_code=303)
        if code in {c for c, _, _ in i18n.LANGUAGES}:
            resp.set_cookie(LANG_COOKIE, code, samesite="lax", path="/", max_age=3600 * 24 * 365)
        return resp

    @router.get("/")
    def home(request: Request) -> Response:
        principal = principal_of(request)
        if principal is None:
            return RedirectResponse("/signin", status_code=303)
        return RedirectResponse("/mine" if principal.role == "enterprise" else "/search", status_code=303)

    # -- search -----------------------------------------------------------------------------------

    @router.get("/search", response_class=HTMLResponse)
    @page
    def search(
        request: Request, principal: Principal, q: str = "", enterprise: str = "", period: str = "",
        form: str = "", page: int = 1,
    ) -> Response:  # fmt: skip
        if principal.role == "enterprise":
            enterprise = principal.enterprise or ""  # an enterprise searches its own lots only
        require(request, principal, "lot.search", Resource(enterprise=enterprise or None))
        page = max(1, page)
        results: list[dict[str, Any]] = []
        more = False
        suggestions: list[str] = []
        error = None
        if q or enterprise or period or form:
            try:
                found = reetrace.search_lots(
                    reads(request), text=q or None, enterprise=enterprise or None,
                    period=period or None, form=form or None, limit=PAGE, offset=(page - 1) * PAGE,
                )  # fmt: skip
                results, more = [h.to_dict() for h in found.hits], found.more
                if not results and q:
                    suggestions = [
                        s
                        for s in reetrace.similar_lots(reads(request), q)
                        if not enterprise or s.startswith(enterprise + ":")
                    ]
            except ValueError as exc:
                error = reetrace.reason_of(exc)

        def page_url(n: int) -> str:
            args = {"q": q, "enterprise": enterprise or "", "period": period, "form": form, "page": n}
            return "/search?" + urlencode({k: v for k, v in args.items() if v})

        return render(
            request, "search.html", principal=principal, q=q, enterprise=enterprise, period=period,
            form=form, forms=FORMS, results=results, more=more, page=page,
            page_url=page_url, suggestions=suggestions, error=error,
        )  # fmt: skip

    # -- a lot, its trace -------------------------------------------------------------------------

    def holders(request: Request, ref: str) -> Resource:
        try:
            return Resource(holders=reetrace.lot_holders(reads(request), ref))
        except ValueError as exc:
            raise _Denied(404, t(request, "No such lot"), reetrace.reason_of(exc)) from exc

    def lot_or_404(request: Request, ref: str) -> dict[str, Any]:
        rep = reetrace.lot_report(reads(request), ref)
        if not rep["created_by"] and not rep["drawn_by"]:
            suggestions = reetrace.similar_lots(reads(request), ref)
            raise _Denied(
                404, t(request, "No such lot"),
                t(request, "No event creates, draws or receives %(lot)s.", lot=ref), suggestions,
            )  # fmt: skip
        return rep

    @router.get("/lots/{ref}", response_class=HTMLResponse)
    @page
    def lot_page(request: Request, principal: Principal, ref: str) -> Response:
        require(request, principal, "lot.read", holders(request, ref))
        rep = lot_or_404(request, ref)
        if not allowed(principal, "trace.full"):  # an enterprise: only its own part of the history
            rep = reetrace.own_lot_report(rep, principal.enterprise or "")
        effective = [c for c in rep["created_by"] if c["retracted_by"] is None]
        line = _line(effective[-1]) if effective else None
        findings: list[dict[str, Any]] = []
        held_by: list[str] = []
        if allowed(principal, "audit.read"):
            with reads(request).reading() as conn:
                findings = reetrace.audit_findings(conn, {rep["lot"]}, set())
        # Who holds it now, from its own history (a forward trace would walk every descendant: tens of
        # seconds for an ore lot of a national year): its enterprise while some of it is left, and
        # every enterprise that received it under its own code.
        owner = rep["lot"].partition(":")[0]
        left = rep["mass_kg"] is not None and rep["drawn_kg"] < rep["mass_kg"]
        received = {
            d["enterprise"] for d in rep["drawn_by"] if d["type"] == "receive" and not d["retracted_by"]
        }
        held_by = sorted(({owner} if left else set()) | received)
        return render(
            request, "lot.html", principal=principal, rep=rep, line=line, findings=findings,
            holders=held_by,
        )  # fmt: skip

    @router.get("/lots/{ref}/trace", response_class=HTMLResponse)
    @page
    def trace_page(request: Request, principal: Principal, ref: str, direction: str = "back") -> Response:
        if not allowed(principal, "trace.full"):
            # An enterprise that holds or held the lot gets the origin summary, nothing more.
            require(request, principal, "trace.summary", holders(request, ref))
            lot_or_404(request, ref)
            back = reetrace.trace_back(reads(request), ref)
            summary = reetrace.origin_summary(back, principal.enterprise or "")
            return render(request, "summary.html", principal=principal, s=summary, lot=ref)
        lot_or_404(request, ref)
        result = _trace(reads(request), ref, direction)
        return render(
            request, "trace.html", principal=principal, t=result, svg=render_svg(result),
            elements=_top_elements(result), downloads=("json", "svg", "png", "dot", "graphml"),
        )  # fmt: skip

    @router.get("/lots/{ref}/trace.{fmt}")
    @page
    def trace_download(
        request: Request, principal: Principal, ref: str, fmt: str, direction: str = "back"
    ) -> Response:
        require(request, principal, "trace.full")
        lot_or_404(request, ref)
        result = _trace(reads(request), ref, direction)
        name = f"{ref.replace(':', '_')}-{direction}.{fmt}"
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "json":
            import orjson

            body = orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2)
            return Response(body, media_type="application/json", headers=disposition)
        if fmt in ("dot", "graphml"):
            graph = reetrace.trace_graph(result)
            text = reetrace.graph_to_dot(graph) if fmt == "dot" else reetrace.graph_to_graphml(graph)
            media = "text/vnd.graphviz" if fmt == "dot" else "application/graphml+xml"
            return Response(text, media_type=media, headers=disposition)
        if fmt in ("svg", "png"):
            fd, path = tempfile.mkstemp(suffix="." + fmt)
            os.close(fd)
            try:
                reetrace.render_picture(result, path, fmt)
                with open(path, "rb") as fh:
                    body = fh.read()
            finally:
                os.unlink(path)
            media = "image/svg+xml" if fmt == "svg" else "image/png"
            return Response(body, media_type=media, headers=disposition)
        raise _Denied(404, t(request, "No such format"), fmt)

    # -- findings ---------------------------------------------------------------------------------

    def _audit(request: Request, params: dict[str, str]) -> tuple[list[dict[str, Any]], datetime, Any]:
        """Findings for the page: filtered from the latest saved whole-store run when the reader asks
        for no other time of judgement; otherwise an audit run now (slower, said on the page)."""
        saved = None if params.get("as_of") else reetrace.latest_audit(reads(request))
        if saved is not None:
            findings, as_of = saved.findings, saved.as_of
            if params.get("rule"):
                findings = [f for f in findings if f["rule"] == params["rule"]]
            if params.get("enterprise"):
                findings = [f for f in findings if f["enterprise"] == params["enterprise"]]
            if params.get("from"):
                findings = [f for f in findings if (f["period"] or "") >= params["from"]]
            if params.get("to"):
                findings = [f for f in findings if (f["period"] or "9999") <= params["to"]]
        else:
            as_of = _date(params.get("as_of")) or datetime.now(UTC)
            result = reetrace.run_audit(
                reads(request), period_from=params.get("from") or None,
                period_to=params.get("to") or None, as_of=as_of,
                enterprise=params.get("enterprise") or None,
                rules=[params["rule"]] if params.get("rule") else None,
            )  # fmt: skip
            findings = [f.to_dict() for f in result.findings]
        if params.get("severity"):
            findings = [f for f in findings if f["severity"] == params["severity"]]
        return findings, as_of, saved

    @router.get("/findings", response_class=HTMLResponse)
    @page
    def findings_page(request: Request, principal: Principal) -> Response:
        require(request, principal, "audit.read")
        params = dict(request.query_params)
        error = None
        saved = None
        try:
            findings, as_of, saved = _audit(request, params)
        except ValueError as exc:
            findings, as_of, error = [], datetime.now(UTC), reetrace.reason_of(exc)
        return render(
            request, "findings.html", principal=principal, findings=findings, rules=list(reetrace.RULES),
            rule=params.get("rule"), severity=params.get("severity"), enterprise=params.get("enterprise"),
            pfrom=params.get("from"), pto=params.get("to"), as_of=params.get("as_of"), as_of_dt=as_of,
            query=urlencode(params), limit=FINDINGS_SHOWN, error=error, saved=saved,
        )  # fmt: skip

    @router.post("/findings/run")
    @page
    def findings_run(request: Request, principal: Principal, csrf: str = Form("")) -> Response:
        if not csrf_ok(request.cookies.get(COOKIE), csrf):
            raise _Denied(403, t(request, "Not allowed"), t(request, "The form expired; reload the page."))
        require(request, principal, "audit.read")
        reetrace.audit_and_save(store(request))
        return RedirectResponse("/findings", status_code=303)

    @router.get("/findings.csv")
    @page
    def findings_csv(request: Request, principal: Principal) -> Response:
        require(request, principal, "audit.read")
        findings, _, _ = _audit(request, dict(request.query_params))

        def rows() -> Iterator[str]:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["rule", "severity", "enterprise", "period", "summary", "lots", "event_ids"])
            for f in findings:
                w.writerow([_cell(x) for x in (
                    f["rule"], f["severity"], f["enterprise"] or "", f["period"] or "", f["summary"],
                    " ".join(f["lots"]), " ".join(f["event_ids"]),
                )])  # fmt: skip
            yield buf.getvalue()

        return StreamingResponse(
            rows(), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="findings.csv"'},
        )  # fmt: skip

    # -- dashboards -------------------------------------------------------------------------------

    @router.get("/submissions", response_class=HTMLResponse)
    @page
    def submissions_page(request: Request, principal: Principal, period: str = "") -> Response:
        require(request, principal, "status.read")
        now = datetime.now(UTC)
        period = period or str(reetrace.Period.of(now).shift(-1))
        error = None
        try:
            rows = reetrace.submissions_status(reads(request), period, now)
            deadline = reetrace.Period.parse(period).deadline()
        except ValueError as exc:
            rows, deadline, error = [], now, reetrace.reason_of(exc)
        counts = {k: sum(1 for r in rows if r.status == k) for k in ("on_time", "late", "missing", "not_due")}
        return render(
            request, "submissions.html", principal=principal, period=period, rows=rows,
            counts=counts, deadline=deadline, error=error,
        )  # fmt: skip

    @router.get("/quota", response_class=HTMLResponse)
    @page
    def quota_page(request: Request, principal: Principal, year: int = 0) -> Response:
        require(request, principal, "quota.read")
        year = year or datetime.now(UTC).year
        rows = reetrace.quota_report(reads(request), year)
        return render(request, "quota.html", principal=principal, year=year, rows=rows)

    # -- an enterprise's own ----------------------------------------------------------------------

    @router.get("/mine", response_class=HTMLResponse)
    @page
    def mine(request: Request, principal: Principal, period: str = "") -> Response:
        own = Resource(enterprise=principal.enterprise)
        require(request, principal, "submission.read", own)
        period = period or str(reetrace.Period.of(datetime.now(UTC)).shift(-1))
        try:
            subs = reetrace.list_submissions(store(request), period, principal.enterprise)
            error = None
        except ValueError as exc:
            subs, error = [], reetrace.reason_of(exc)
        return render(request, "mine.html", principal=principal, submissions=subs, period=period, error=error)

    @router.get("/receipts/{position}")
    @page
    def receipt_download(request: Request, principal: Principal, position: int) -> Response:
        rec = reetrace.submission_receipt(store(request), position) if 0 < position < 2**62 else None
        if rec is None:
            raise _Denied(404, t(request, "No such submission"), str(position))
        require(request, principal, "submission.read", Resource(enterprise=rec["enterprise"]))
        import orjson

        return Response(
            orjson.dumps(rec, option=orjson.OPT_INDENT_2), media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="receipt-{position}.json"'},
        )  # fmt: skip

    @router.get("/upload", response_class=HTMLResponse)
    @page
    def upload_form(request: Request, principal: Principal) -> Response:
        require(request, principal, "submission.create", Resource(enterprise=principal.enterprise))
        return render(request, "upload.html", principal=principal, problems=None, result=None)

    @router.post("/upload", response_class=HTMLResponse)
    @page
    def upload(
        request: Request,
        principal: Principal,
        file: UploadFile,
        period: str = Form(...),
        csrf: str = Form(""),
    ) -> Response:
        if not csrf_ok(request.cookies.get(COOKIE), csrf):
            raise _Denied(403, t(request, "Not allowed"), t(request, "The form expired; reload the page."))
        require(request, principal, "submission.create", Resource(enterprise=principal.enterprise))
        suffix = "".join(s for s in os.path.splitext(file.filename or "upload.jsonl")[1:]) or ".jsonl"
        fd, path = tempfile.mkstemp(suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                copied = _copy_bounded(file.file, out, max_upload)
            if copied is None:
                raise _Denied(413, t(request, "Too large"), t(request, "The file is larger than allowed."))
            try:
                res = reetrace.submit(
                    store(request), path, enterprise=principal.enterprise or "", period=period,
                    fmt="csv" if file.filename and ".csv" in file.filename.lower() else "jsonl",
                    submitter=_submitter(request, principal), name=os.path.basename(file.filename or ""),
                )  # fmt: skip
            except reetrace.InputError as exc:
                return render(
                    request, "upload.html", status=422, principal=principal, period=period,
                    problems=[_problem(p, file.filename) for p in exc.problems],
                    problem_count=len(exc.problems) + exc.more, result=None,
                )  # fmt: skip
            except (ValueError, reetrace.ReetraceError) as exc:
                return render(
                    request, "upload.html", status=422, principal=principal, period=period,
                    problems=[
                        {"file": file.filename, "line": 0, "field": "", "reason": reetrace.reason_of(exc)}
                    ],
                    problem_count=1, result=None,
                )  # fmt: skip
            # Shown as the CLI shows them (``file:line: field: reason``), the reason in the reader's language.
            warnings = [_problem(w, w.file) for w in getattr(res, "warnings", ())]
            return render(
                request, "upload.html", principal=principal, period=period, problems=None,
                result=res.message(), warnings=warnings,
            )  # fmt: skip
        finally:
            os.unlink(path)

    return router


# -- helpers ----------------------------------------------------------------------------------------


def _trace(store: reetrace.Store, ref: str, direction: str) -> Any:
    if direction == "forward":
        return reetrace.trace_forward(store, ref, findings_for=reetrace.audit_findings)
    return reetrace.trace_back(store, ref, findings_for=reetrace.audit_findings)


def _top_elements(result: Any) -> list[str]:
    """The elements worth a column of the origin table: those of the lot's own profile, largest first, at
    most eight. A forward trace has no origin table (and no profile of its own): none."""
    els = getattr(result, "elements", None) or {}
    return [el for el, _ in sorted(els.items(), key=lambda kv: -kv[1])][:8]


def _line(created: dict[str, Any]) -> dict[str, Any]:
    rec = created.get("record", {})
    lot = created.get("lot")
    for out in rec.get("outputs", []):
        if lot is None or out.get("lot") == lot:
            return {**out, "reo_kg": created.get("reo_kg")}
    return {}


def _submitter(request: Request, principal: Principal) -> dict[str, Any]:
    return {
        "principal": principal.name, "token": principal.token_id,
        "address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent", "")[:200], "via": "workbench",
    }  # fmt: skip


def _problem(p: Any, file: str | None) -> dict[str, Any]:
    return {"file": file or "", "line": p.line, "field": p.field, "reason": p.reason}


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=reetrace.SHANGHAI)


def _cell(value: str) -> str:
    # A cell that a spreadsheet would run as a formula is written as text (OWASP CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _copy_bounded(src: Any, dst: Any, limit: int) -> int | None:
    total = 0
    while chunk := src.read(1 << 20):
        total += len(chunk)
        if total > limit:
            return None
        dst.write(chunk)
    return total


__all__ = ["build_router"]
