"""The registry of audit rules (docs/contract/audit-rules.md), in that page's order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from reetrace.audit.actors import unauthorised_actor
from reetrace.audit.balance import period_mass_balance
from reetrace.audit.custody import unmatched_custody
from reetrace.audit.finding import Finding
from reetrace.audit.lots import impossible_time, overdrawn_lot, stock_gain, unexplained_lot
from reetrace.audit.process import output_exceeds_input
from reetrace.audit.quota import quota_exceeded
from reetrace.audit.reporting import reporting
from reetrace.audit.scope import Scope

RuleFn = Callable[[Connection, Scope], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    check: RuleFn
    #: Whether the rule's findings name lots or events, so that a trace can show them (and the rule
    #: can run restricted to a trace's lots and positions).
    touches_lots: bool


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("overdrawn_lot", "Over-drawn lot", overdrawn_lot, True),
        Rule("output_exceeds_input", "Output exceeds input", output_exceeds_input, True),
        Rule("unexplained_lot", "Unexplained lot", unexplained_lot, True),
        Rule("unmatched_custody", "Unmatched custody", unmatched_custody, True),
        Rule("unauthorised_actor", "Unauthorised actor", unauthorised_actor, True),
        Rule("quota_exceeded", "Quota exceeded", quota_exceeded, False),
        Rule("reporting", "Reporting", reporting, True),
        Rule("impossible_time", "Impossible time", impossible_time, True),
        Rule("stock_gain", "Stock gain", stock_gain, True),
        Rule("period_mass_balance", "Period mass balance", period_mass_balance, False),
    )
}
