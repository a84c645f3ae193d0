"""The audit's answer to a trace: the findings that touch a traced subgraph, as plain dicts.

A trace takes any ``findings_for(conn, lots, positions) -> list[dict]`` (see
:data:`reetrace.trace.back.FindingsFor`) and hangs each finding on the nodes it names (``lots``) and the
events it names (``events``, log positions). This is the one that asks the audit; it lives here, not in
``trace/``, so that tracing does not depend on auditing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from reetrace.audit.runner import findings_for


def audit_findings(conn: Connection, lots: set[str], positions: set[int]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in findings_for(conn, lots, positions)]


__all__ = ["audit_findings"]
