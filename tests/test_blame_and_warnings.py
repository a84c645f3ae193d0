"""Findings blame the enterprise whose record breaks the rule, and a submission warns about what it
records but only an audit would otherwise catch; on both backends."""

from __future__ import annotations

from pathlib import Path

from reetrace.store import Store
from tests.builders import (
    APRIL_RECEIVED,
    BAYAN_OBO,
    MARCH_RECEIVED,
    audit,
    ev,
    inp,
    out,
    oxide,
    setup,
    submit_events,
)

CONC = {"reo_pct": 50.0, "elements": BAYAN_OBO}


def _mine(store: Store, tmp_path: Path, *events: dict[str, object]) -> None:
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("ORE1", "concentrate", 1000, **CONC)]),  # type: ignore[arg-type]
        *events,
    ], received_at=MARCH_RECEIVED)  # fmt: skip


def test_a_toll_processor_that_overdraws_is_blamed(store: Store, tmp_path: Path) -> None:
    setup(store)
    _mine(store, tmp_path)
    r = submit_events(store, tmp_path, "REC", "2025-03", [
        ev("r1", "process", "REC", "REC-P", "2025-03-04", process="beneficiation", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 1500)], outputs=[out("C2", "concentrate", 1400, reo_pct=50)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    [f] = audit(store, "overdrawn_lot")
    assert (f.enterprise, f.detail["owner"], f.detail["crossed_by"]) == ("REC", "MINE", "REC")
    # The submission said so at once, naming line and field.
    assert [(w.line, w.field) for w in r.warnings] == [(1, "inputs[0].mass_kg")]
    assert "MINE:ORE1 is drawn 1,500.0 kg in all" in r.warnings[0].reason


def test_a_retraction_after_shipping_blames_the_retracting_enterprise(store: Store, tmp_path: Path) -> None:
    setup(store)
    _mine(store, tmp_path, ev("m2", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP",
                              inputs=[inp("ORE1", 1000)]))  # fmt: skip
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 1000)], outputs=[out("C1", "concentrate", 1000, **CONC)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "MINE", "2025-04", [
        ev("m3", "retract", "MINE", "BO", "2025-04-02", retracts="m1", reason="never mined"),
    ], received_at=APRIL_RECEIVED)  # fmt: skip
    found = [f for f in audit(store, "unexplained_lot") if f.lots[0] == "MINE:ORE1"]
    assert [f.enterprise for f in found] == ["MINE"]
    assert found[0].detail["retracted_by"] == "MINE"
    assert found[0].detail["referenced_by"] == "MINE, SEP"
    assert "MINE retracted the event that created MINE:ORE1" in found[0].summary


def test_warnings_per_record_and_across_records(store: Store, tmp_path: Path) -> None:
    setup(store)
    r = submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[out("ORE1", "concentrate", 120, **CONC)]),
        ev("m2", "ship", "MINE", "BO", "2025-03-03", counterparty="NOBODY", inputs=[inp("ORE1", 150)]),
        ev("m3", "extract", "MINE", "BO", "2025-03-30", outputs=[out("ORE2", "concentrate", 80, **CONC)]),
    ], received_at="2025-03-20T10:00:00+08:00")  # fmt: skip
    got = [(w.line, w.field) for w in r.warnings]
    assert got == [
        (1, "outputs[0].mass_kg"),  # 120 kg mined: tonnes?
        (2, "counterparty"),
        (2, "inputs[0].mass_kg"),  # 150 kg drawn from a 120 kg lot
        (3, "occurred_at"),  # after the receipt time
        (3, "outputs[0].mass_kg"),
    ]
    reasons = {(w.line, w.field): w.reason for w in r.warnings}
    assert "is this in tonnes" in reasons[(1, "outputs[0].mass_kg")]
    assert reasons[(2, "counterparty")] == "NOBODY is not in the registry"
    assert "after the receipt time" in reasons[(3, "occurred_at")]
    assert r.position is not None  # recorded all the same


def test_a_file_in_tonnes_and_a_yield_above_the_inputs(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s0", "adjust", "SEP", "SEP-P", "2025-03-01", reason="opening stock",
           outputs=[out("F1", "concentrate", 20, **CONC), out("F2", "concentrate", 30, **CONC)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    r = submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "process", "SEP", "SEP-P", "2025-03-04", process="separation",
           inputs=[inp("F1", 20), inp("F2", 30)], outputs=[oxide("OX1", 80)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    reasons = {(w.line, w.field): w.reason for w in r.warnings}
    assert "more than the 50.0 kg drawn could hold even as pure metal" in reasons[(1, "outputs")]
    assert "is this file in tonnes" in reasons[(1, "mass_kg")]


def test_a_toll_input_nobody_reported_is_warned_about(store: Store, tmp_path: Path) -> None:
    setup(store)
    r = submit_events(store, tmp_path, "REC", "2025-03", [
        ev("r1", "process", "REC", "REC-P", "2025-03-04", process="recycling", counterparty="MAG",
           inputs=[inp("MAG:SCRAP1", 1000)], outputs=[oxide("OX1", 280)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    [w] = r.warnings
    assert (w.line, w.field) == (1, "inputs[0].lot")
    assert "MAG:SCRAP1 is not (yet) reported by MAG" in w.reason


def test_the_overdraw_warning_keeps_the_audit_tolerance_and_names_a_lot_once(
    store: Store, tmp_path: Path
) -> None:
    # 0.5% over a lot's mass is within the audit's tolerance; more is warned, once per lot, at the
    # first line that draws it (the comparison is made in the database: the same arithmetic as the
    # audit's default).
    setup(store)
    r = submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02", outputs=[out("ORE1", "concentrate", 1000, **CONC)]),
        ev("m2", "extract", "MINE", "BO", "2025-03-02", outputs=[out("ORE2", "concentrate", 1000, **CONC)]),
        ev("m3", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP", inputs=[inp("ORE1", 1004.9)]),
        ev("m4", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP", inputs=[inp("ORE2", 600)]),
        ev("m5", "ship", "MINE", "BO", "2025-03-04", counterparty="SEP", inputs=[inp("ORE2", 405.1)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    drawn = [(w.line, w.field, w.reason) for w in r.warnings if "drawn" in w.reason]
    assert drawn == [
        (4, "inputs[0].mass_kg", "MINE:ORE2 is drawn 1,005.1 kg in all, more than its 1,000.0 kg (recorded; "
                                 "the audit reports overdrawn_lot)"),
    ]  # fmt: skip
    assert [f.lots[0] for f in audit(store, "overdrawn_lot")] == ["MINE:ORE2"]
