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

#: Separator for lists aggregated in SQL (lot codes may contain commas, never a unit separator).
SEP = "\x1f"


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


def split(value: str | None) -> list[str]:
    return sorted(set(value.split(SEP))) if value else []


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
            "pfrom": self.period_from, "pto": self.period_to, "closed": self.closed,
            "ent": self.enterprise,
        }  # fmt: skip
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

    def lot_set(self) -> str:
        if self.dialect == "postgresql":
            return "(SELECT unnest(CAST(:flots AS text[])))"
        return "(SELECT value FROM json_each(:flots))"

    def pos_set(self) -> str:
        if self.dialect == "postgresql":
            return "(SELECT unnest(CAST(:fpos AS bigint[])))"
        return "(SELECT value FROM json_each(:fpos))"

    def focus(self, lots: Sequence[str] = (), positions: Sequence[str] = ()) -> str:
        """``AND`` clause keeping rows where a lot column is a focus lot or a position column a focus
        position (nothing when the run is not focused)."""
        if not self.focused:
            return ""
        terms = []
        if self.focus_lots:
            terms += [f"{c} IN {self.lot_set()}" for c in lots]
        if self.focus_positions:
            terms += [f"{c} IN {self.pos_set()}" for c in positions]
        return " AND (" + " OR ".join(terms) + ")" if terms else " AND 1 = 0"

    # -- dialect pieces ----------------------------------------------------------------------------

    def agg(self, expr: str) -> str:
        """Text aggregate of ``expr`` joined by :data:`SEP`."""
        if self.dialect == "postgresql":
            return f"string_agg(DISTINCT CAST({expr} AS text), chr(31))"
        return f"group_concat(DISTINCT CAST({expr} AS text))"  # SQLite: see fix_agg

    def greatest(self, a: str, b: str) -> str:
        return f"CASE WHEN {a} >= {b} THEN {a} ELSE {b} END"


def fix_agg(dialect: str, value: str | None) -> list[str]:
    """Split a list aggregated with :meth:`Scope.agg`.

    SQLite's ``group_concat(DISTINCT x)`` only joins with a comma; lot codes are short codes without
    commas in practice, but a lot code containing one would be split wrongly, so SQLite aggregates are
    only used for positions and enterprise codes (which cannot hold a comma: they have no separator
    rule, so see :func:`lists_by` for lots).
    """
    if not value:
        return []
    return sorted(set(value.split(SEP if dialect == "postgresql" else ",")))


def lists_by(
    conn: Connection, sql: str, params: dict[str, Any]
) -> dict[Any, tuple[list[str], list[int]]]:
    """Run ``sql`` returning ``(key, lot, position)`` rows; collect lots and positions per key."""
    out: dict[Any, tuple[set[str], set[int]]] = {}
    for key, lot, pos in conn.execute(sa.text(sql), params):
        lots, positions = out.setdefault(key, (set(), set()))
        if lot is not None:
            lots.add(lot)
        if pos is not None:
            positions.add(int(pos))
    return {k: (sorted(v[0]), sorted(v[1])) for k, v in out.items()}


def chunks(values: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    buf: list[Any] = []
    for v in values:
        buf.append(v)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf
