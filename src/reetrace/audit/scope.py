"""What one audit run looks at, and the few SQL pieces that differ between SQLite and PostgreSQL.

Every rule is a handful of set-based queries over the derived tables; the :class:`Scope` turns the
run's parameters (period range, enterprise, the lots and positions a trace asks about) into ``AND``
clauses and bind parameters, so a rule states its query once for both backends and for both uses (a
whole-store audit and :func:`reetrace.audit.findings_for`).

Periods are ``YYYY-MM`` text, compared as text. An event's period is the period of the submission that
recorded it (the writer checked that ``occurred_at`` lies in it), so no rule converts time zones in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Tolerances
from reetrace.elements import ELEMENTS
from reetrace.submission import SHANGHAI, Period


def shift(period: str, months: int) -> str:
    p = Period.parse(period)
    index = p.year * 12 + (p.month - 1) + months
    return str(Period(index // 12, index % 12 + 1))


def closed_period(as_of: datetime) -> str:
    """The latest period whose reporting deadline lies before ``as_of``."""
    local = as_of.astimezone(SHANGHAI)
    previous = shift(f"{local.year:04d}-{local.month:02d}", -1)
    if Period.parse(previous).deadline() < as_of:
        return previous
    return shift(previous, -1)


def to_datetime(value: Any) -> datetime:
    """A timestamp read through ``sa.text`` (SQLite hands back naive UTC text) as an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def element_cols(prefix: str) -> list[str]:
    return [f'{prefix}."{el}"' for el in ELEMENTS]


@dataclass(frozen=True)
class Scope:
    dialect: str
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
            p["flots"] = self._array(list(self.focus_lots))
        if self.focus_positions is not None:
            p["fpos"] = self._array(list(self.focus_positions))
        p.update(extra)
        return p

    def _array(self, values: list[Any]) -> Any:
        return values if self.dialect == "postgresql" else orjson.dumps(values).decode()

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

    def member(self, col: str, param: str, kind: str = "text") -> str:
        """``col`` is an element of the array bound to ``param`` (see :meth:`array`).

        PostgreSQL gets ``= ANY(array)``, which it answers with index scans for a short array (an
        ``IN (SELECT unnest(...))`` is planned as a hash join over the whole table)."""
        if self.dialect == "postgresql":
            return f"{col} = ANY(CAST(:{param} AS {kind}[]))"
        return f"{col} IN (SELECT value FROM json_each(:{param}))"

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
            terms += [self.member(c, "flots") for c in lots]
        if self.focus_positions:
            terms += [self.member(c, "fpos", "bigint") for c in positions]
        return " AND (" + " OR ".join(terms) + ")" if terms else " AND 1 = 0"

    def array(self, values: Iterable[Any]) -> Any:
        """A bind value for :meth:`member`."""
        return self._array(list(values))

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
        SELECT position, lot FROM inputs WHERE {scope.member("position", "ps", "bigint")}
        UNION ALL
        SELECT position, lot FROM lots WHERE {scope.member("position", "ps", "bigint")}
    """
    for pos, lot in conn.execute(sa.text(sql), {"ps": scope.array(wanted)}):
        out[int(pos)].add(lot)
    return {p: sorted(v) for p, v in out.items()}
