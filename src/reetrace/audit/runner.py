"""Running the rules: a whole audit (:func:`run_audit`) or the findings of a trace (:func:`findings_for`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import AuditResult, Finding, Tolerances
from reetrace.audit.rules import RULES
from reetrace.audit.scope import Scope
from reetrace.messages import M_
from reetrace.periods import Period, closed_period
from reetrace.store import Store
from reetrace.store.dialect import dialect_of


@contextmanager
def _connection(store_or_conn: Store | Connection) -> Iterator[Connection]:
    if isinstance(store_or_conn, Connection):
        yield store_or_conn
    else:
        with store_or_conn.reading() as conn:
            store_or_conn.sql.tune_for_audit(conn)
            yield conn


def _as_of(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    if as_of.tzinfo is None:
        raise ValueError("as_of needs a time zone")
    return as_of


def _period(text: str | None, name: str) -> str | None:
    if text is None:
        return None
    try:
        return str(Period.parse(text))
    except ValueError:
        raise ValueError(M_("{name} {text} is not YYYY-MM", name=name, text=repr(text))) from None


def run_audit(
    store_or_conn: Store | Connection,
    *,
    period_from: str | None = None,
    period_to: str | None = None,
    as_of: datetime | None = None,
    enterprise: str | None = None,
    rules: Sequence[str] | None = None,
    tolerances: Tolerances | None = None,
) -> AuditResult:
    """Run the rules (all by default) over the store and return their findings and timings.

    ``period_from``/``period_to`` (``YYYY-MM``, inclusive) bound the periods findings belong to;
    ``as_of`` (default now) is the moment the audit stands on: a deadline after it is not yet missed.
    """
    when = _as_of(as_of)
    pfrom, pto = _period(period_from, "--from"), _period(period_to, "--to")
    if pfrom and pto and pfrom > pto:
        raise ValueError(M_("--from {first} is after --to {last}", first=pfrom, last=pto))
    chosen = list(rules) if rules else list(RULES)
    unknown = [r for r in chosen if r not in RULES]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    tol = tolerances or Tolerances()
    findings: list[Finding] = []
    timings: dict[str, float] = {}
    with _connection(store_or_conn) as conn:
        scope = Scope(
            sql=dialect_of(conn), as_of=when, closed=closed_period(when), period_from=pfrom,
            period_to=pto, enterprise=enterprise, tol=tol,
        )  # fmt: skip
        for rule_id in chosen:
            started = time.perf_counter()
            findings += RULES[rule_id].check(conn, scope)
            timings[rule_id] = time.perf_counter() - started
        findings = _with_event_ids(conn, scope, findings)
    findings.sort(key=Finding.sort_key)
    return AuditResult(findings, timings, when, pfrom, pto, enterprise, tol)


def findings_for(
    conn: Connection,
    lots: set[str],
    positions: set[int],
    *,
    as_of: datetime | None = None,
    tolerances: Tolerances | None = None,
) -> list[Finding]:
    """The findings that name any of ``lots`` or any of the event ``positions`` (for a trace).

    Runs only the rules whose findings name lots or events, each restricted in SQL to those lots,
    the events that create or draw them, and the lots those events touch — never the whole store.
    Quota and period-mass-balance findings concern an enterprise's year or month, not a lot, and are
    not returned here.
    """
    when = _as_of(as_of)
    tol = tolerances or Tolerances()
    lot_set, pos_set = set(lots), {int(p) for p in positions}
    if not lot_set and not pos_set:
        return []
    base = Scope(
        sql=dialect_of(conn), as_of=when, closed=closed_period(when), period_from=None, period_to=None,
        enterprise=None, tol=tol,
    )  # fmt: skip
    flots, fpos = _expand(conn, base, lot_set, pos_set)
    scope = replace(base, focus_lots=tuple(sorted(flots)), focus_positions=tuple(sorted(fpos)))
    findings: list[Finding] = []
    for rule in RULES.values():
        if rule.touches_lots:
            findings += [f for f in rule.check(conn, scope) if f.touches(lot_set, pos_set)]
    findings = _with_event_ids(conn, scope, findings)
    findings.sort(key=Finding.sort_key)
    return findings


def _expand(conn: Connection, scope: Scope, lots: set[str], positions: set[int]) -> tuple[set[str], set[int]]:
    """The focus of a restricted run: the events that create or draw ``lots`` plus ``positions``,
    and every lot those events touch (so a receive's output brings in the sender's lot, whose custody
    and creation are judged with it)."""
    fpos = set(positions)
    if lots:
        sql = f"""
        SELECT position FROM inputs WHERE {scope.sql.member("lot", "ls")}
        UNION SELECT position FROM lots WHERE {scope.sql.member("lot", "ls")}
        """
        fpos |= {int(p) for p in conn.execute(sa.text(sql), {"ls": scope.sql.array(sorted(lots))}).scalars()}
    flots = set(lots)
    if fpos:
        sql = f"""
        SELECT lot FROM inputs WHERE {scope.sql.member("position", "ps", "bigint")}
        UNION SELECT lot FROM lots WHERE {scope.sql.member("position", "ps", "bigint")}
        """
        flots |= set(conn.execute(sa.text(sql), {"ps": scope.sql.array(sorted(fpos))}).scalars())
    return flots, fpos


def _with_event_ids(conn: Connection, scope: Scope, findings: Iterable[Finding]) -> list[Finding]:
    found = list(findings)
    wanted = sorted({p for f in found for p in f.events})
    if not wanted:
        return found
    sql = f"SELECT position, event_id FROM events WHERE {scope.sql.member('position', 'ps', 'bigint')}"
    ids = {int(r.position): r.event_id for r in conn.execute(sa.text(sql), {"ps": scope.sql.array(wanted)})}
    out = []
    for f in found:
        if f.events:
            f = Finding(**{**f.__dict__, "event_ids": tuple(ids.get(p, "") for p in f.events)})
        out.append(f)
    return out
