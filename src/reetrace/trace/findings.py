"""Audit findings hung on the nodes of a trace.

A trace does not run the audit itself: it is handed a :data:`FindingsFor` callable (the audit's is
:func:`reetrace.audit.for_trace.audit_findings`) and indexes what it returns by lot and by event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import Connection

#: ``findings_for(conn, lots, positions)``: the audit findings that touch any of those lots or events
#: (dicts with at least ``lots`` and ``events``, a list of log positions).
FindingsFor = Callable[[Connection, set[str], set[int]], list[dict[str, Any]]]


class FindingIndex:
    """Findings by the lots and event positions they name, so that hanging them on n nodes costs
    O(n + findings), not O(n × findings)."""

    def __init__(self, findings: list[dict[str, Any]]) -> None:
        self.by_lot: dict[str, list[int]] = defaultdict(list)
        self.by_pos: dict[int, list[int]] = defaultdict(list)
        self.findings = findings
        for i, f in enumerate(findings):
            for lot in f.get("lots", ()):
                self.by_lot[lot].append(i)
            for pos in f.get("events", ()):
                self.by_pos[pos].append(i)

    def of(self, lot: str, positions: Iterable[int]) -> list[dict[str, Any]]:
        if not self.findings:
            return []
        hits = set(self.by_lot.get(lot, ()))
        for pos in positions:
            hits.update(self.by_pos.get(pos, ()))
        return [self.findings[i] for i in sorted(hits)]


__all__ = ["FindingIndex", "FindingsFor"]
