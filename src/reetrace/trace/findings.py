"""The audit hook of a trace: the findings of :mod:`reetrace.audit` that touch the traced subgraph.

A trace takes any ``findings_for(conn, lots, positions) -> list[dict]`` (see
:data:`reetrace.trace.back.FindingsFor`); this is the one that asks the audit. Each finding is the
audit's ``Finding.to_dict()``: it names ``lots`` and ``events`` (log positions), which is how the
trace hangs it on its nodes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection


def audit_findings(conn: Connection, lots: set[str], positions: set[int]) -> list[dict[str, Any]]:
    from reetrace.audit import findings_for  # the audit is optional for library users of trace

    return [f.to_dict() for f in findings_for(conn, lots, positions)]
