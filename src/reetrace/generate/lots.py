"""Open stock: the lots each enterprise still holds, and the events of the month being written.

Only lots with something left in them are kept (a fully drawn lot leaves its holder's book), so memory
follows the stock on hand, not the history. Masses are integer grams so that "never over-drawn" is
exact arithmetic, not a float comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reetrace.elements import reo_equivalent


@dataclass(slots=True, eq=False)
class Lot:
    """A lot in someone's stock, with the content it was written with."""

    ent: str
    code: str
    product: str
    form: str
    #: routing key of the flows ("feed:baotou", "ox:PrNd", "metal:PrNd", "magnet", "scrap", ...)
    kind: str
    mass_g: int
    #: True: ``pct`` is ``re_metal_pct`` (shares on the metal basis); else ``reo_pct``.
    metal: bool
    pct: float
    #: element shares as written on the lot line; None when the line declares no profile
    shares: dict[str, float] | None
    #: the true profile of an undeclared lot (laundered ore): the generator knows what it really is
    hidden: dict[str, float] | None = None
    #: set aside by an injection: the normal flows never draw it
    frozen: bool = False
    #: epoch seconds of the creating event, once the month's events are stamped
    created: int = 0
    #: event_id of the creating event
    born_by: str = ""
    initial_g: int = 0

    def __post_init__(self) -> None:
        self.initial_g = self.mass_g

    @property
    def ref(self) -> str:
        return f"{self.ent}:{self.code}"

    def element_reo(self, grams: int) -> dict[str, float]:
        """Element REO-equivalent kg in ``grams`` of this lot (exactly as the store will compute it)."""
        shares = self.shares if self.shares is not None else self.hidden
        assert shares is not None, f"{self.ref} has no profile"
        if self.metal:
            _, per = reo_equivalent(grams / 1000.0, re_metal_pct=self.pct, elements=shares)
        else:
            _, per = reo_equivalent(grams / 1000.0, reo_pct=self.pct, elements=shares)
        assert per is not None
        return per

    def output_line(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "lot": self.ref,
            "product": self.product,
            "form": self.form,
            "mass_kg": self.initial_g / 1000.0,
        }
        line["re_metal_pct" if self.metal else "reo_pct"] = self.pct
        if self.shares is not None:
            line["elements"] = self.shares
        return line


@dataclass(slots=True)
class Book:
    """One enterprise's open stock and its numbering of lots and events."""

    code: str
    lots: dict[str, Lot] = field(default_factory=dict)
    lot_seq: int = 0
    event_seq: int = 0

    def open_lots(self, prefix: str) -> list[Lot]:
        """Lots whose routing key starts with ``prefix``, oldest first, skipping frozen ones."""
        return [lot for lot in self.lots.values() if lot.kind.startswith(prefix) and not lot.frozen]


@dataclass(slots=True, eq=False)
class Ev:
    """One event of the month: its JSON record, the lots it created, and custody links."""

    ent: str
    data: dict[str, Any]
    born: list[Lot] = field(default_factory=list)
    t: int = 0
    #: ship/receive: the sender's lot and the grams moved; receive: ``twin`` is the ship
    lot: Lot | None = None
    grams: int = 0
    twin: Ev | None = None

    def __post_init__(self) -> None:
        for lot in self.born:
            lot.born_by = self.data["event_id"]

    @property
    def event_id(self) -> str:
        return str(self.data["event_id"])
