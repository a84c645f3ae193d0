"""The audit and the quota report (inspectors)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

import reetrace
from reetrace.service.auth import CurrentPrincipal, ReadStore
from reetrace.service.permissions import require
from reetrace.service.problems import responses
from reetrace.service.responses import JSON

router = APIRouter(prefix="/v1", tags=["audit"])
PeriodQ = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


@router.get(
    "/audit",
    response_class=JSON,
    response_model=dict[str, Any],
    responses={200: {"content": {"text/csv": {}}}, **responses(401, 403, 422)},
)
def audit(
    principal: CurrentPrincipal,
    store: ReadStore,
    period_from: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    period_to: Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
    as_of: Annotated[datetime | None, Query()] = None,
    enterprise: Annotated[str | None, Query(max_length=64)] = None,
    rule: Annotated[list[Literal[tuple(reetrace.RULES)]] | None, Query()] = None,  # type: ignore[valid-type]
    tolerance: Annotated[list[str] | None, Query(description="NAME=VALUE")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Run the audit rules with the CLI's filters; every finding with its rule, lots, events and numbers."""
    require(principal, "audit.read")
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=reetrace.SHANGHAI)
    tol = reetrace.Tolerances().with_overrides(tuple(tolerance or ()))
    result = reetrace.run_audit(
        store, period_from=period_from, period_to=period_to, as_of=as_of, enterprise=enterprise,
        rules=tuple(rule) if rule else None, tolerances=tol,
    )  # fmt: skip
    if format == "json":
        return result.to_dict()
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        ["rule", "severity", "enterprise", "period", "summary", "lots", "events", "event_ids", "detail"]
    )
    for f in result.findings:
        w.writerow([
            f.rule, f.severity, f.enterprise or "", f.period or "", f.summary, " ".join(f.lots),
            " ".join(map(str, f.events)), " ".join(f.event_ids),
            orjson.dumps(f.detail, option=orjson.OPT_SORT_KEYS).decode(),
        ])  # fmt: skip
    return Response(out.getvalue(), media_type="text/csv")


@router.get(
    "/quota/{year}", response_class=JSON, response_model=dict[str, Any], responses=responses(401, 403, 422)
)
def quota(principal: CurrentPrincipal, store: ReadStore, year: int) -> Any:
    """Mining and separation quota against use, t REO, per group and enterprise."""
    require(principal, "quota.read")
    if not 1900 <= year <= 9999:
        from reetrace.service.problems import HTTPProblem

        raise HTTPProblem(422, "year out of range")
    return {"year": year, "rows": [r.to_dict() for r in reetrace.quota_report(store, year)]}
