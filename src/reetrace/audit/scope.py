"""What one audit run looks at.

Every rule is a handful of set-based queries over the derived tables; the :class:`Scope` turns the
run's parameters (period range, enterprise, the lots and positions a trace asks about) into ``AND``
clauses and bind parameters, so a rule states its query once for both uses (a whole-store audit and
:func:`reetrace.audit.findings_for`). What differs between the databases is the backend's
:class:`~reetrace.store.dialect.Dialect`, which the run carries as ``sql``.

Periods are ``YYYY-MM`` text, compared as text. An event's period is the period of the submission that
recorded it (the writer checked that ``occurred_at`` lies in it), so no rule converts time zones in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Tolerances
from reetrace.elements import ELEMENTS
from reetrace.store.dialect import Dialect


def to_datetime(value: Any) -> datetime:
    """A timestamp read through ``sa.text`` (SQLite hands back naive UTC text) as an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def element_cols(prefix: str) -> list[str]:
    return [f'{prefix}."{el}"' for el in ELEMENTS]


@dataclass(frozen=True, kw_only=True)
class Scope:
    #: The SQL of the database the run reads.
    sql: Dialect
    as_of: datetime
    #: Latest period whose deadline has passed at ``as_of``.
    closed: str
    period_from: str | None
    period_to: str | None
    enterprise: str | None
    tol: Tolerances
    focus_lots: tuple[str, ...] | None = None
    focus_positions: tuple[int, ...] | None = None

    @property
    def focused(self) -> bool:
        return self.focus_lots is not None or self.focus_positions is not None

    def params(self, **extra: Any) -> dict[str, Any]:
        p: dict[str, Any] = {
            "pfrom": self.period_from,
            "pto": self.period_to,
            "closed": self.closed,
            "ent": self.enterprise,
        }
        if self.focus_lots is not None:
            p["flots"] = self.sql.array(self.focus_lots)
        if self.focus_positions is not None:
            p["fpos"] = self.sql.array(self.focus_positions)
        p.update(extra)
        return p

    # -- clauses -----------------------------------------------------------------------------------

    def period(self, col: str) -> str:
        """``AND`` clause keeping rows whose period column lies in the run's range."""
        out = ""
        if self.period_from is not None:
            out += f" AND {col} >= :pfrom"
        if self.period_to is not None:
            out += f" AND {col} <= :pto"
        return out

    def ent(self, *cols: str) -> str:
        """``AND`` clause keeping rows where any of ``cols`` is the run's enterprise."""
        if self.enterprise is None:
            return ""
        return " AND (" + " OR ".join(f"{c} = :ent" for c in cols) + ")"

    def focus(self, lots: Sequence[str] = (), positions: Sequence[str] = ()) -> str:
        """``AND`` clause keeping rows where a lot column is a focus lot or a position column a focus
        position (nothing when the run is not focused).

        A rule anchors its focus on one side only: rules about a lot on the lot (the focus lots hold
        every lot of every event that touches a traced lot or position), rules about an event on its
        position (the focus positions hold every event creating or drawing a traced lot). An OR across
        two tables would defeat the indexes."""
        if not self.focused:
            return ""
        terms = []
        if self.focus_lots:
            terms += [self.sql.member(c, "flots") for c in lots]
        if self.focus_positions:
            terms += [self.sql.member(c, "fpos", "bigint") for c in positions]
        return " AND (" + " OR ".join(terms) + ")" if terms else " AND 1 = 0"

    def greatest(self, a: str, b: str) -> str:
        return f"CASE WHEN {a} >= {b} THEN {a} ELSE {b} END"

    def in_range(self, period: str | None) -> bool:
        if period is None:
            return True
        if self.period_from is not None and period < self.period_from:
            return False
        return not (self.period_to is not None and period > self.period_to)

    def ent_ok(self, *codes: str | None) -> bool:
        return self.enterprise is None or self.enterprise in codes


def event_lots(conn: Connection, scope: Scope, positions: Iterable[int]) -> dict[int, list[str]]:
    """Input and output lots of the given events (for the few events that findings name)."""
    wanted = sorted(set(positions))
    out: dict[int, set[str]] = {p: set() for p in wanted}
    if not wanted:
        return {}
    sql = f"""
        SELECT position, lot FROM inputs WHERE {scope.sql.member("position", "ps", "bigint")}
        UNION ALL
        SELECT position, lot FROM lots WHERE {scope.sql.member("position", "ps", "bigint")}
    """
    for pos, lot in conn.execute(sa.text(sql), {"ps": scope.sql.array(wanted)}):
        out[int(pos)].add(lot)
    return {p: sorted(v) for p, v in out.items()}


def made_from(conn: Connection, scope: Scope, positions: Iterable[int]) -> dict[tuple[int, str], list[str]]:
    """(event, input lot) -> the lots that event made from that input, read from its edges: every
    output of a process, the paired outputs of a receive (for the few events that findings name)."""
    wanted = sorted(set(positions))
    if not wanted:
        return {}
    out: dict[tuple[int, str], list[str]] = {}
    sql = f"SELECT position, src, dst FROM edges WHERE {scope.sql.member('position', 'ps', 'bigint')}"
    for pos, src, dst in conn.execute(sa.text(sql), {"ps": scope.sql.array(wanted)}):
        out.setdefault((int(pos), src), []).append(dst)
    return {k: sorted(v) for k, v in out.items()}
