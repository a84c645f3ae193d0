"""Audits: the ten rules of docs/contract/audit-rules.md turned into findings, in set-based SQL on both
backends.

    run_audit(store, period_from=, period_to=, as_of=, enterprise=, rules=, tolerances=) -> AuditResult
    findings_for(conn, lots, positions, *, as_of=, tolerances=) -> list[Finding]   (for traces)
    quota_report(store, year) -> list[QuotaRow]
    submissions_status(store, period, as_of=) -> list[SubmissionStatus]

Each rule's exact definition is the docstring of its module: ``lots`` (1 over-drawn lot, 3 unexplained
lot, 8 impossible time, 9 stock gain), ``process`` (2 output exceeds input), ``custody`` (4), ``actors``
(5), ``quota`` (6), ``reporting`` (7), ``balance`` (10).
"""

from __future__ import annotations

from datetime import UTC, datetime

from reetrace.audit.finding import AuditResult, Finding, Tolerances
from reetrace.audit.quota import QuotaRow, quota_table
from reetrace.audit.reporting import SubmissionStatus, submission_status
from reetrace.audit.rules import RULES, Rule
from reetrace.audit.runner import findings_for, run_audit
from reetrace.audit.scope import Scope
from reetrace.periods import closed_period
from reetrace.store import Store


def quota_report(store: Store, year: int) -> list[QuotaRow]:
    """Mining and separation quota against use for ``year``, per group and enterprise."""
    with store.reading() as conn:
        now = datetime.now(UTC)
        scope = Scope(
            sql=store.sql, as_of=now, closed=closed_period(now), period_from=f"{year:04d}-01",
            period_to=f"{year:04d}-12", enterprise=None, tol=Tolerances(),
        )  # fmt: skip
        return [r for r in quota_table(conn, scope) if r.year == year]


def submissions_status(store: Store, period: str, as_of: datetime | None = None) -> list[SubmissionStatus]:
    """Who reported ``period`` on time, late or not at all, as of ``as_of`` (default now)."""
    with store.reading() as conn:
        return submission_status(conn, period, as_of or datetime.now(UTC))


__all__ = [
    "RULES",
    "AuditResult",
    "Finding",
    "QuotaRow",
    "Rule",
    "SubmissionStatus",
    "Tolerances",
    "findings_for",
    "quota_report",
    "run_audit",
    "submissions_status",
]
