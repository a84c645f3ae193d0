"""What an audit returns: findings, the tolerances they were judged with, and the run's timings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["high", "medium", "low"]

SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Finding:
    """One broken rule: who, which lots and events (log positions), and the numbers that break it."""

    rule: str
    severity: Severity
    enterprise: str | None
    summary: str
    lots: tuple[str, ...] = ()
    events: tuple[int, ...] = ()
    period: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    #: ``event_id`` of each position in :attr:`events`, same order (filled in by the runner).
    event_ids: tuple[str, ...] = ()

    def touches(self, lots: set[str] | frozenset[str], positions: set[int] | frozenset[int]) -> bool:
        return not lots.isdisjoint(self.lots) or not positions.isdisjoint(self.events)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "enterprise": self.enterprise,
            "period": self.period,
            "summary": self.summary,
            "lots": list(self.lots),
            "events": list(self.events),
            "event_ids": list(self.event_ids),
            "detail": self.detail,
        }

    def sort_key(self) -> tuple[Any, ...]:
        return (
            SEVERITY_ORDER[self.severity],
            self.rule,
            self.enterprise or "",
            self.period or "",
            self.lots,
            self.events,
        )


@dataclass(frozen=True)
class Tolerances:
    """How far a number may stray before it is a finding (defaults: docs/contract/audit-rules.md).

    Fractions are of the quantity named: ``overdraw=0.005`` lets a lot's outflow reach 100.5% of its
    mass. Change one with ``dataclasses.replace`` or :meth:`with_overrides` (``NAME=VALUE`` strings).
    """

    #: Rule 1: outflow may exceed a lot's mass by this fraction.
    overdraw: float = 0.005
    #: Rule 2: a transformation's output REO may exceed its input REO by this fraction.
    output_reo: float = 0.01
    #: Rule 2: an element's output may exceed that element's input by this fraction of it ...
    element_excess: float = 0.02
    #: ... or by this many kg, whichever is larger.
    element_floor_kg: float = 1.0
    #: Rule 4: received and shipped quantities may differ by this fraction of the larger.
    custody_qty: float = 0.01
    #: Rule 4: periods a ship may wait for its receive after its own period (goods in transit at the
    #: end of a month arrive, and are reported, in the next one).
    custody_grace_periods: int = 1
    #: Rule 6: use may exceed the quota by this fraction.
    quota: float = 0.0
    #: Rule 8: an input may be dated this many seconds before the lot's creation (clock skew).
    time_skew_s: float = 0.0
    #: Rule 10: process-loss bands as fractions of the input.
    separation_loss_min: float = 0.04
    separation_loss_max: float = 0.08
    metal_loss_min: float = 0.03
    metal_loss_max: float = 0.05
    #: Rule 10: an element is balanced on its own only when its monthly input is at least this share
    #: of the REO input and at least ``balance_floor_kg`` (trace elements are within assay noise).
    balance_element_share: float = 0.01
    balance_floor_kg: float = 10.0

    def with_overrides(self, items: dict[str, str] | list[str] | tuple[str, ...]) -> Tolerances:
        """A copy with ``NAME=VALUE`` overrides applied; unknown names and bad values raise."""
        pairs: list[tuple[str, str]] = []
        if isinstance(items, dict):
            pairs = list(items.items())
        else:
            for item in items:
                name, sep, value = item.partition("=")
                if not sep:
                    raise ValueError(f"tolerance {item!r} is not NAME=VALUE")
                pairs.append((name.strip(), value.strip()))
        known = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for name, value in pairs:
            if name not in known:
                raise ValueError(f"unknown tolerance {name!r}; known: {', '.join(sorted(known))}")
            try:
                number: float | int = int(value) if known[name].type == "int" else float(value)
            except ValueError:
                raise ValueError(f"tolerance {name}={value!r} is not a number") from None
            if number < 0:
                raise ValueError(f"tolerance {name} must not be negative")
            changes[name] = number
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass
class AuditResult:
    """Findings of one audit run, with the parameters it stood on and the seconds each rule took."""

    findings: list[Finding]
    timings: dict[str, float]
    as_of: datetime
    period_from: str | None
    period_to: str | None
    enterprise: str | None
    tolerances: Tolerances

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.timings, 0)
        for f in self.findings:
            out[f.rule] = out.get(f.rule, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "period_from": self.period_from,
            "period_to": self.period_to,
            "enterprise": self.enterprise,
            "tolerances": self.tolerances.to_dict(),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }
