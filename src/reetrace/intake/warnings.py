"""What a submission records but warns about (docs/contract/submissions.md#warnings).

Refusing these would hide evidence (the audit reports them later, against the enterprise whose record
breaks a rule), so they are recorded, and returned with the result so that the reporter can correct them
at once. They are cheap: per record from what the writer already computed, plus one SQL query over the
rows the submission just wrote for the rules across records. They are not a full audit.

- ``occurred_at`` after the receipt time (an event from the future);
- a ``process`` whose outputs hold more REO than its inputs' gross mass could hold even as pure metal
  (REO-equivalent kg of metal exceed its mass: the bound is pure Sc, 1.53 kg REO per kg);
- masses that look like tonnes: an ``extract`` output under 1,000 kg, or a file whose every lot line
  is under 100 kg (with at least 3 lines);
- a lot drawn beyond its mass (over the audit's default 0.5% tolerance) by this submission's draws;
- a ``counterparty`` that is not in the registry;
- a toll ``process`` drawing a counterparty lot that nobody has reported creating (yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from reetrace.elements import METAL_PER_OXIDE
from reetrace.messages import M_, Instant

if TYPE_CHECKING:
    from reetrace.intake.writer import SubmissionWriter

#: Output REO above the inputs' gross mass by more than this share is warned about.
YIELD_SLACK = 0.01
#: The most REO-equivalent kg one kg of anything can hold: pure scandium metal (1 / 0.652 = 1.53 kg
#: Sc2O3). Without reading the input lots this is the bound that never warns wrongly (metal inputs
#: count more REO-equivalent kg than their gross mass).
MAX_REO_PER_KG = 1 / min(METAL_PER_OXIDE.values())
#: Draws above a lot's mass by more than this share (the audit's default ``overdraw``) are warned about.
OVERDRAW = 0.005
#: An extract output under this many kg looks like tonnes.
SMALL_EXTRACT_KG = 1000.0
#: A file whose every lot line is under this many kg (and has at least ``TONNES_MIN_LINES``) looks like
#: tonnes.
TONNES_FILE_KG = 100.0
TONNES_MIN_LINES = 3


class RecordWarnings:
    """Per-record warnings, fed by the writer with each record and the rows derived from it."""

    def __init__(self, received_at: datetime) -> None:
        self.received_at = received_at
        self.found: list[tuple[int, str, str]] = []
        self.first_line: int | None = None
        self.lines = 0
        self.max_kg = 0.0

    def record(self, line: int, rec: dict[str, Any], lot_rows: Sequence[Any], in_rows: Sequence[Any]) -> None:
        if self.first_line is None:
            self.first_line = line
        occurred = datetime.fromisoformat(rec["occurred_at"])
        if occurred > self.received_at:
            self.found.append((
                line, "occurred_at",
                M_("{time} is after the receipt time {received_at}: an event from the future (recorded; the "
                   "audit reports it as impossible_time)",
                   time=rec["occurred_at"], received_at=Instant(self.received_at)),
            ))  # fmt: skip
        for r in lot_rows:
            self.max_kg = max(self.max_kg, r[6])
        for r in in_rows:
            self.max_kg = max(self.max_kg, r[4])
        self.lines += len(lot_rows) + len(in_rows)
        if rec["type"] == "process" and in_rows:
            reo_out = sum(r[9] for r in lot_rows)
            gross_in = sum(r[4] for r in in_rows)
            if reo_out > gross_in * MAX_REO_PER_KG * (1 + YIELD_SLACK):
                self.found.append((
                    line, "outputs",
                    M_("the outputs hold {reo_out:,.1f} kg REO, more than the {gross_in:,.1f} kg drawn could "
                       "hold even as pure metal (recorded; the audit reports output_exceeds_input)",
                       reo_out=reo_out, gross_in=gross_in),
                ))  # fmt: skip
        if rec["type"] == "extract":
            for idx, r in enumerate(lot_rows):
                if r[6] < SMALL_EXTRACT_KG:
                    self.found.append((
                        line, f"outputs[{idx}].mass_kg",
                        M_("{kg:g} kg mined in one lot: masses are in kg — is this in tonnes?", kg=r[6]),
                    ))  # fmt: skip

    def file_level(self) -> list[tuple[int, str, str]]:
        if self.first_line is not None and self.lines >= TONNES_MIN_LINES and self.max_kg < TONNES_FILE_KG:
            return [(
                self.first_line, "mass_kg",
                M_("every one of the {lines} lot lines is under {kg:g} kg: masses are in kg — is this file "
                   "in tonnes?", lines=self.lines, kg=TONNES_FILE_KG),
            )]  # fmt: skip
        return []


def cross_record_warnings(w: SubmissionWriter) -> list[tuple[int, str, str]]:
    """Warnings that need other records, in SQL over what this submission wrote (before commit)."""
    conn = w.app.conn
    p = {"start": w.start}
    out: list[tuple[int, str, str]] = []
    warned: set[str] = set()
    for line, idx, lot, mass, drawn in conn.execute(_OVERDRAWN, {**p, "factor": 1 + OVERDRAW}):
        if lot in warned:
            continue
        warned.add(lot)
        out.append((
            line, f"inputs[{idx}].mass_kg",
            M_("{lot} is drawn {drawn:,.1f} kg in all, more than its {mass:,.1f} kg (recorded; the audit "
               "reports overdrawn_lot)", lot=lot, drawn=drawn, mass=mass),
        ))  # fmt: skip
    for line, who in conn.execute(_UNKNOWN_COUNTERPARTY, p):
        out.append((line, "counterparty", M_("{ent} is not in the registry", ent=who)))
    for line, idx, lot, who in conn.execute(_TOLL_INPUTS, p):
        out.append((
            line, f"inputs[{idx}].lot",
            M_("{lot} is not (yet) reported by {ent}: it must be, by the deadline of this period, or the "
               "audit reports unexplained_lot", lot=lot, ent=who),
        ))  # fmt: skip
    return out


# Only the lines that draw an overdrawn lot: the comparison is made in the database, so that a large
# submission's every input line does not travel to the client to be dropped there (0.75 s -> 0.5 s for
# 66,666 lines). ``factor`` is 1 + OVERDRAW, the same double as the Python comparison it replaced.
# (PostgreSQL pulls the subquery up, so ``drawn`` is computed again for the result, but only for the
# lines that pass; fenced with OFFSET 0 the whole query took longer: 0.6 s.)
_OVERDRAWN = sa.text(
    """
    SELECT line, idx, lot, mass_kg, drawn FROM (
        SELECT e.line, i.idx, i.lot, l.mass_kg,
               (SELECT sum(i2.mass_kg) FROM effective_inputs i2 JOIN events e2 ON e2.position = i2.position
                 WHERE i2.lot = i.lot AND e2.type <> 'receive') AS drawn
        FROM inputs i JOIN events e ON e.position = i.position
        JOIN effective_lots l ON l.lot = i.lot
        WHERE i.position > :start AND e.type <> 'receive'
    ) x
    WHERE drawn > mass_kg * :factor
    ORDER BY line, idx
    """
)


_UNKNOWN_COUNTERPARTY = sa.text(
    """
    SELECT e.line, e.counterparty FROM events e
    WHERE e.position > :start AND e.counterparty IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM current_enterprises c WHERE c.code = e.counterparty)
    ORDER BY e.line
    """
)

_TOLL_INPUTS = sa.text(
    """
    SELECT e.line, i.idx, i.lot, i.holder FROM inputs i JOIN events e ON e.position = i.position
    WHERE i.position > :start AND e.type = 'process' AND e.counterparty IS NOT NULL
      AND i.holder <> e.enterprise
      AND NOT EXISTS (SELECT 1 FROM effective_lots l WHERE l.lot = i.lot)
    ORDER BY e.line, i.idx
    """
)


__all__ = ["RecordWarnings", "cross_record_warnings"]
