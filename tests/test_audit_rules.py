"""Each audit rule: a case that must fire and near misses that must not, on both backends."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from reetrace.audit import Tolerances, run_audit
from reetrace.store import Store
from tests.builders import (
    APRIL_RECEIVED,
    AS_OF,
    BAYAN_OBO,
    MARCH_RECEIVED,
    PRND,
    audit,
    clean_chain,
    ev,
    inp,
    kinds,
    metal_mass_for,
    metal_profile,
    out,
    oxide,
    setup,
    submit_events,
)

CONC = {"reo_pct": 50.0, "elements": BAYAN_OBO}


def mine(store: Store, tmp_path: Path, *events: dict[str, object], kg: float = 1000) -> None:
    """MINE extracts ORE1 (``kg`` of 50% concentrate) on 2 March, then reports ``events``."""
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("ORE1", "concentrate", kg, **CONC)]),  # type: ignore[arg-type]
        *events,
    ], received_at=MARCH_RECEIVED)  # fmt: skip


def ship(eid: str, lot: str, kg: float, to: str = "SEP", day: str = "2025-03-03", **kw: object):  # type: ignore[no-untyped-def]
    return ev(eid, "ship", lot.split(":")[0] if ":" in lot else "MINE", "BO", day,
              counterparty=to, inputs=[inp(lot, kg)], **kw)  # fmt: skip


# -- the clean chain ---------------------------------------------------------------------------------


def test_clean_chain_has_no_findings(store: Store, tmp_path: Path) -> None:
    setup(store)
    clean_chain(store, tmp_path)
    result = run_audit(store, as_of=AS_OF)
    assert result.findings == []
    assert set(result.timings) == {
        "overdrawn_lot", "output_exceeds_input", "unexplained_lot", "unmatched_custody",
        "unauthorised_actor", "quota_exceeded", "reporting", "impossible_time", "stock_gain",
        "period_mass_balance",
    }  # fmt: skip


# -- 1 over-drawn lot --------------------------------------------------------------------------------


def test_overdrawn_lot_fires_beyond_half_a_percent(store: Store, tmp_path: Path) -> None:
    setup(store)
    mine(store, tmp_path, ship("m2", "ORE1", 600), ship("m3", "ORE1", 410, day="2025-03-04"))
    found = audit(store, "overdrawn_lot")
    assert kinds(found) == [("overdrawn_lot", "MINE", None)]
    f = found[0]
    assert f.lots == ("MINE:ORE1",) and f.period == "2025-03"
    assert f.detail["drawn_kg"] == 1010 and f.detail["excess_kg"] == 10
    assert f.event_ids == ("m1", "m2", "m3")


def test_overdrawn_lot_near_misses(store: Store, tmp_path: Path) -> None:
    setup(store)
    # 1004 kg of 1000: inside 0.5%. SEP's receive of the same lot is custody, not a second draw.
    mine(store, tmp_path, ship("m2", "ORE1", 600), ship("m3", "ORE1", 404, day="2025-03-04"))
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 600)], outputs=[out("C1", "concentrate", 600, **CONC)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "overdrawn_lot") == []
    assert kinds(audit(store, "overdrawn_lot", tolerances=Tolerances(overdraw=0.001))) == [
        ("overdrawn_lot", "MINE", None)
    ]


def test_retraction_removes_an_overdraw(store: Store, tmp_path: Path) -> None:
    setup(store)
    mine(store, tmp_path, ship("m2", "ORE1", 600), ship("m3", "ORE1", 600, day="2025-03-04"))
    assert len(audit(store, "overdrawn_lot")) == 1
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m4", "retract", "MINE", "BO", "2025-03-05", retracts="m3", reason="typed twice"),
    ], received_at="2025-04-06T10:00:00+08:00")  # fmt: skip
    assert audit(store, "overdrawn_lot") == []


# -- 2 output exceeds input --------------------------------------------------------------------------


def separation(store: Store, tmp_path: Path, outputs: list[dict[str, object]]) -> None:
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s0", "import", "SEP", "SEP-P", "2025-03-01",
           origin={"customs_entry": "CE1", "country": "US", "hs_code": "2530.90.20"},
           outputs=[out("F1", "concentrate", 1000, **CONC)]),  # type: ignore[arg-type]
        ev("s1", "process", "SEP", "SEP-P", "2025-03-05", process="separation",
           inputs=[inp("F1", 1000)], outputs=outputs),
    ], received_at=MARCH_RECEIVED)  # fmt: skip


def test_output_exceeds_input_in_reo(store: Store, tmp_path: Path) -> None:
    setup(store)
    separation(store, tmp_path, [oxide("OX1", 510)])  # 500 kg REO in, 510 out: +2%
    found = audit(store, "output_exceeds_input")
    assert kinds(found) == [("output_exceeds_input", "SEP", "reo")]
    assert found[0].detail["input_reo_kg"] == 500 and found[0].detail["output_reo_kg"] == 510
    assert set(found[0].lots) == {"SEP:F1", "SEP:OX1"}


def test_output_exceeds_input_in_one_element(store: Store, tmp_path: Path) -> None:
    setup(store)
    # 460 kg REO out of 500 in, but with more Dy than the Bayan Obo feed held (0.5 kg in).
    rich = {**BAYAN_OBO, "Ce": 48.0, "Dy": 2.1}
    separation(store, tmp_path, [oxide("OX1", 460, rich)])
    found = audit(store, "output_exceeds_input")
    assert kinds(found) == [("output_exceeds_input", "SEP", "element")]
    assert set(found[0].detail["elements"]) == {"Dy"}


def test_output_exceeds_input_near_misses(store: Store, tmp_path: Path) -> None:
    setup(store)
    # +0.5% REO (inside 1%) and Dy +0.9 kg over 0.5 kg in (inside the 1 kg floor).
    near = {**BAYAN_OBO, "Ce": 49.83, "Dy": 0.27}
    separation(store, tmp_path, [oxide("OX1", 502.5, near)])
    assert audit(store, "output_exceeds_input") == []


def test_receive_that_inflates_content(store: Store, tmp_path: Path) -> None:
    setup(store)
    mine(store, tmp_path, ship("m2", "ORE1", 1000))
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 1000)],
           outputs=[out("C1", "concentrate", 1000, reo_pct=50.4, elements=BAYAN_OBO)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "output_exceeds_input") == []  # +0.8%: re-assay within 1%
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s2", "retract", "SEP", "SEP-P", "2025-03-06", retracts="s1", reason="re-assayed"),
        ev("s3", "receive", "SEP", "SEP-P", "2025-03-06", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 1000)],
           outputs=[out("C2", "concentrate", 1000, reo_pct=60, elements=BAYAN_OBO)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "output_exceeds_input")
    assert [(f.detail["kind"], f.event_ids, f.detail["excess_reo_kg"]) for f in found] == [
        ("receive_reo", ("s3",), 100.0)
    ]


def test_element_backed_only_by_undeclared_feed(store: Store, tmp_path: Path) -> None:
    setup(store)
    ionic = {"Dy": 6.7, "Tb": 1.3, "Y": 65.0, "Gd": 6.9, "Nd": 3.0, "La": 1.8, "Sm": 2.8,
             "Pr": 0.7, "Ce": 0.4, "Ho": 11.4}  # fmt: skip
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s0", "import", "SEP", "SEP-P", "2025-03-01",
           origin={"customs_entry": "CE1", "country": "US", "hs_code": "2530.90.20"},
           outputs=[out("F1", "concentrate", 1000, **CONC),  # type: ignore[arg-type]
                    out("U1", "mixed_compound", 500, reo_pct=90)]),
        ev("s1", "process", "SEP", "SEP-P", "2025-03-05", process="separation",
           inputs=[inp("F1", 1000), inp("U1", 500)],
           outputs=[oxide("OX1", 470), oxide("OX2", 420, ionic)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "output_exceeds_input")
    assert [(f.severity, f.detail["kind"]) for f in found] == [("medium", "undeclared_feed")]
    assert {"Dy", "Tb", "Y"} <= set(found[0].detail["elements"])
    assert found[0].detail["undeclared_input_reo_kg"] == 450


# -- 3 unexplained lot -------------------------------------------------------------------------------


def receive_ghost(store: Store, tmp_path: Path) -> None:
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
           inputs=[inp("MINE:GHOST", 800)], outputs=[out("C9", "concentrate", 800, **CONC)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip


def test_unexplained_lot_fires_after_the_deadline(store: Store, tmp_path: Path) -> None:
    setup(store)
    receive_ghost(store, tmp_path)
    found = audit(store, "unexplained_lot")
    assert kinds(found) == [("unexplained_lot", "SEP", None)]
    assert found[0].lots == ("MINE:GHOST", "SEP:C9")
    assert found[0].detail["holder"] == "MINE"


def test_unexplained_lot_not_before_the_deadline(store: Store, tmp_path: Path) -> None:
    setup(store)
    receive_ghost(store, tmp_path)
    before = datetime.fromisoformat("2025-04-10T23:00:00+08:00")
    assert audit(store, "unexplained_lot", as_of=before) == []


def test_unexplained_lot_explained_when_the_creator_reports(store: Store, tmp_path: Path) -> None:
    setup(store)
    receive_ghost(store, tmp_path)
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("GHOST", "concentrate", 800, **CONC)]),  # type: ignore[arg-type]
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "unexplained_lot") == []


# -- 4 unmatched custody -----------------------------------------------------------------------------


def custody(store: Store, tmp_path: Path, shipped: float, received: float | None,
            ship_docs: dict[str, str] | None = None,
            recv_docs: dict[str, str] | None = None) -> None:  # fmt: skip
    mine(store, tmp_path, ship("m2", "ORE1", shipped, documents=ship_docs or {"waybill": "W1"}))
    if received is not None:
        submit_events(store, tmp_path, "SEP", "2025-03", [
            ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
               inputs=[inp("MINE:ORE1", received)],
               outputs=[out("C1", "concentrate", received, **CONC)],  # type: ignore[arg-type]
               documents=recv_docs or {"waybill": "W1"}),
        ], received_at=MARCH_RECEIVED)  # fmt: skip


def test_ship_without_receive(store: Store, tmp_path: Path) -> None:
    setup(store)
    custody(store, tmp_path, 1000, None)
    found = audit(store, "unmatched_custody")
    assert kinds(found) == [("unmatched_custody", "MINE", "ship_without_receive")]
    # Before April's deadline the receive may still come (goods in transit at the month's end).
    assert audit(store, "unmatched_custody", as_of=datetime.fromisoformat("2025-05-01T00:00+08:00")) == []
    strict = Tolerances(custody_grace_periods=0)
    assert len(audit(store, "unmatched_custody", tolerances=strict,
                     as_of=datetime.fromisoformat("2025-05-01T00:00+08:00"))) == 1  # fmt: skip


def test_receive_without_ship(store: Store, tmp_path: Path) -> None:
    setup(store)
    mine(store, tmp_path)
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 1000)], outputs=[out("C1", "concentrate", 1000, **CONC)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "unmatched_custody")
    assert kinds(found) == [("unmatched_custody", "SEP", "receive_without_ship")]
    assert set(found[0].lots) == {"MINE:ORE1", "SEP:C1"}


def test_custody_quantities_differ(store: Store, tmp_path: Path) -> None:
    setup(store)
    custody(store, tmp_path, 1000, 980)
    found = audit(store, "unmatched_custody")
    assert kinds(found) == [("unmatched_custody", "SEP", "quantity")]
    assert found[0].detail["shipped_kg"] == 1000 and found[0].detail["received_kg"] == 980


def test_custody_rounding_difference_matches(store: Store, tmp_path: Path) -> None:
    setup(store)
    custody(store, tmp_path, 1000, 995.5)
    assert audit(store, "unmatched_custody") == []


def test_custody_documents_disagree(store: Store, tmp_path: Path) -> None:
    setup(store)
    custody(store, tmp_path, 1000, 1000, {"waybill": "W1", "invoice": "I1"}, {"waybill": "W7"})
    found = audit(store, "unmatched_custody")
    assert kinds(found) == [("unmatched_custody", "SEP", "documents")]


def test_custody_documents_compatible(store: Store, tmp_path: Path) -> None:
    setup(store)
    custody(store, tmp_path, 1000, 1000, {"waybill": "W1", "invoice": "I1"}, {"waybill": "W1"})
    assert audit(store, "unmatched_custody") == []


def test_custody_in_two_consignments(store: Store, tmp_path: Path) -> None:
    """One lot shipped and received in two parts: matched as a whole, documents per consignment."""
    setup(store)

    def receive(eid: str, lot: str, waybill: str) -> dict[str, object]:
        return ev(eid, "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
                  inputs=[inp("MINE:ORE1", 500)],
                  outputs=[out(lot, "concentrate", 500, **CONC)],  # type: ignore[arg-type]
                  documents={"waybill": waybill})  # fmt: skip

    mine(store, tmp_path,
         ship("m2", "ORE1", 500, documents={"waybill": "W1"}),
         ship("m3", "ORE1", 500, day="2025-03-04", documents={"waybill": "W2"}))  # fmt: skip
    submit_events(store, tmp_path, "SEP", "2025-03", [receive("s1", "C1", "W2"), receive("s2", "C2", "W1")],
                  received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "unmatched_custody") == []
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s3", "retract", "SEP", "SEP-P", "2025-03-06", retracts="s1", reason="wrong waybill"),
        receive("s4", "C3", "W9"),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "unmatched_custody")
    assert [(f.detail["kind"], f.event_ids[0]) for f in found] == [("documents", "m3")]


def test_unregistered_counterparty_is_an_actor_finding(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="SMUGGLER",
           inputs=[inp("SMUGGLER:X1", 500)], outputs=[out("C1", "concentrate", 500, **CONC)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "unmatched_custody") == []
    assert kinds(audit(store, "unauthorised_actor")) == [
        ("unauthorised_actor", "SEP", "unregistered_counterparty")
    ]


# -- 5 unauthorised actor ----------------------------------------------------------------------------


def test_unauthorised_actors(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO-WH", "2025-03-02",
           outputs=[out("ORE1", "concentrate", 1000, **CONC)]),  # type: ignore[arg-type]
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "MET", "2025-03", [
        ev("t0", "extract", "MET", "MET-P", "2025-03-01",
           outputs=[out("O1", "ore", 1000, reo_pct=5)]),
        ev("t1", "process", "MET", "MET-P", "2025-03-02", process="separation",
           inputs=[inp("O1", 1000)], outputs=[oxide("OX1", 47)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "REC", "2025-03", [
        ev("r0", "receive", "REC", "REC-P", "2025-03-01", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 1000)], outputs=[out("C1", "concentrate", 1000, **CONC)]),
        ev("r1", "process", "REC", "REC-P", "2025-03-03", process="beneficiation",
           inputs=[inp("C1", 1000)], outputs=[out("C2", "concentrate", 900, reo_pct=50)]),
        ev("r2", "process", "REC", "REC-P", "2025-03-04", process="recycling", counterparty="MAG",
           inputs=[inp("MAG:SCRAP1", 100)], outputs=[oxide("OX1", 28)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "unauthorised_actor")
    assert sorted((f.enterprise, f.detail["kind"], f.event_ids) for f in found) == [
        ("MET", "mining_not_approved", ("t0",)),
        ("MET", "separation_not_approved", ("t1",)),
        ("MET", "unlicensed_mine", ("t0",)),
        ("MINE", "unlicensed_mine", ("m1",)),
        ("REC", "recycler_mineral_feed", ("r1",)),
        ("REC", "toll_processing", ("r2",)),
    ]


def test_authorised_actors_pass(store: Store, tmp_path: Path) -> None:
    setup(store)
    # An approved miner at its licensed mine, an approved separator, a recycler recycling scrap.
    clean_chain(store, tmp_path)
    submit_events(store, tmp_path, "REC", "2025-03", [
        ev("r0", "adjust", "REC", "REC-P", "2025-03-01", reason="opening stock",
           outputs=[out("S1", "scrap", 100, re_metal_pct=30)]),
        ev("r1", "process", "REC", "REC-P", "2025-03-04", process="recycling",
           inputs=[inp("S1", 100)], outputs=[oxide("OX1", 28)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "unauthorised_actor") == []


# -- 6 quota -----------------------------------------------------------------------------------------


def extract(eid: str, lot: str, reo_t: float, day: str = "2025-03-02") -> dict[str, object]:
    return ev(eid, "extract", "MINE", "BO", day,
              outputs=[out(lot, "concentrate", reo_t * 2000, **CONC)])  # type: ignore[arg-type]  # fmt: skip


def test_mining_quota_exceeded(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [
        extract("m1", "A", 70), extract("m2", "B", 31, "2025-03-03"),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "quota_exceeded")
    assert kinds(found) == [("quota_exceeded", "CNRE", None)]
    assert found[0].detail["quota_t"] == 100 and found[0].detail["use_t"] == 101
    assert audit(store, "quota_exceeded", tolerances=Tolerances(quota=0.02)) == []


def test_mining_quota_within_both_batches(store: Store, tmp_path: Path) -> None:
    setup(store)
    # 99 t against 60 + 40 t: over the first batch alone, within the year's sum.
    submit_events(store, tmp_path, "MINE", "2025-03", [
        extract("m1", "A", 70), extract("m2", "B", 29, "2025-03-03"),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "quota_exceeded") == []


def test_mining_without_any_quota(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "MINE2", "2025-03", [
        ev("k1", "extract", "MINE2", "SC", "2025-03-02",
           outputs=[out("A", "concentrate", 200, **CONC)]),  # type: ignore[arg-type]
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "quota_exceeded")
    assert [(f.enterprise, f.detail["quota_t"], f.detail["use_t"]) for f in found] == [("MINE2", 0.0, 0.1)]


def test_separation_quota_counts_imported_feed(store: Store, tmp_path: Path) -> None:
    setup(store)
    feed = {"reo_pct": 60.0, "elements": BAYAN_OBO}
    submit_events(store, tmp_path, "IMP", "2025-03", [
        ev("i1", "import", "IMP", "PORT", "2025-03-01",
           origin={"customs_entry": "CE1", "country": "US", "hs_code": "2530.90.20"},
           outputs=[out("BN1", "concentrate", 100_000, **feed)]),  # type: ignore[arg-type]
        ev("i2", "ship", "IMP", "PORT", "2025-03-02", counterparty="SEP",
           inputs=[inp("BN1", 100_000)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "MINE", "2025-03", [extract("m1", "A", 50)],
                  received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-03", counterparty="IMP",
           inputs=[inp("IMP:BN1", 100_000)],
           outputs=[out("C1", "concentrate", 100_000, **feed)]),  # type: ignore[arg-type]
        ev("s2", "process", "SEP", "SEP-P", "2025-03-05", process="separation",
           inputs=[inp("C1", 100_000)], outputs=[oxide("OX1", 56_400)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "quota_exceeded") == []  # 60 t imported feed, quota 100 t
    submit_events(store, tmp_path, "MINE", "2025-03", [
        extract("m1", "A", 50),
        ev("m2", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP", inputs=[inp("A", 100_000)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s3", "receive", "SEP", "SEP-P", "2025-03-04", counterparty="MINE",
           inputs=[inp("MINE:A", 100_000)], outputs=[out("C2", "concentrate", 100_000, **CONC)]),
        ev("s4", "process", "SEP", "SEP-P", "2025-03-06", process="separation",
           inputs=[inp("C2", 100_000)], outputs=[oxide("OX2", 47_000)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "quota_exceeded")
    assert [(f.enterprise, f.detail["category"], f.detail["use_t"], f.detail["imported_t"])
            for f in found] == [("CNRE", "separation", 110.0, 60.0)]  # fmt: skip


# -- 7 reporting -------------------------------------------------------------------------------------


def test_missing_report_after_the_deadline(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [], received_at=MARCH_RECEIVED)
    submit_events(store, tmp_path, "SEP", "2025-03", [], received_at=MARCH_RECEIVED)
    submit_events(store, tmp_path, "MINE", "2025-04", [], received_at=APRIL_RECEIVED)
    found = audit(store, "reporting")
    assert [(f.enterprise, f.period, f.detail["kind"]) for f in found] == [("SEP", "2025-04", "missing")]
    before = datetime.fromisoformat("2025-05-10T12:00:00+08:00")
    assert audit(store, "reporting", as_of=before) == []
    # A range that leaves April out asks nothing of April.
    assert audit(store, "reporting", period_to="2025-03") == []


def test_late_report(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [], received_at="2025-04-11T00:00:01+08:00")
    submit_events(store, tmp_path, "SEP", "2025-03", [], received_at="2025-04-10T23:59:00+08:00")
    found = audit(store, "reporting")
    assert [(f.enterprise, f.detail["kind"]) for f in found] == [("MINE", "late")]


def test_late_retraction(store: Store, tmp_path: Path) -> None:
    setup(store)
    mine(store, tmp_path, ship("m2", "ORE1", 100), ship("m3", "ORE1", 100, day="2025-03-04"))
    # m2 withdrawn before March's deadline (fine), m3 in April's report (after it).
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m4", "retract", "MINE", "BO", "2025-03-20", retracts="m2", reason="duplicate"),
    ], received_at="2025-04-09T10:00:00+08:00")  # fmt: skip
    submit_events(store, tmp_path, "MINE", "2025-04", [
        ev("m5", "retract", "MINE", "BO", "2025-04-20", retracts="m3", reason="duplicate"),
    ], received_at=APRIL_RECEIVED)  # fmt: skip
    found = audit(store, "reporting")
    assert [(f.enterprise, f.detail["kind"], f.event_ids) for f in found] == [
        ("MINE", "late_retraction", ("m5", "m3"))
    ]


# -- 8 impossible time -------------------------------------------------------------------------------


def test_lot_used_before_it_was_created(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-05T10:00:00+08:00",
           outputs=[out("ORE1", "concentrate", 1000, **CONC)]),  # type: ignore[arg-type]
        ev("m2", "consume", "MINE", "BO", "2025-03-05T09:00:00+08:00", inputs=[inp("ORE1", 10)]),
        ev("m3", "consume", "MINE", "BO", "2025-03-05T10:00:00+08:00", inputs=[inp("ORE1", 10)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    found = audit(store, "impossible_time")
    assert [(f.detail["kind"], f.event_ids) for f in found] == [("used_before_created", ("m2", "m1"))]
    assert audit(store, "impossible_time", tolerances=Tolerances(time_skew_s=3600)) == []


def test_event_reported_before_it_happened(store: Store, tmp_path: Path) -> None:
    setup(store)
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("ORE1", "concentrate", 1000, **CONC)]),  # type: ignore[arg-type]
        ev("m2", "consume", "MINE", "BO", "2025-03-25", inputs=[inp("ORE1", 10)]),
    ], received_at="2025-03-20T10:00:00+08:00")  # fmt: skip
    found = audit(store, "impossible_time")
    assert [(f.detail["kind"], f.event_ids) for f in found] == [("event_in_future", ("m2",))]


# -- 9 stock gain ------------------------------------------------------------------------------------


def test_stock_gain_fires_and_a_loss_does_not(store: Store, tmp_path: Path) -> None:
    setup(store)
    mine(store, tmp_path,
         ev("m2", "adjust", "MINE", "BO", "2025-03-04", reason="stock-take",
            inputs=[inp("ORE1", 5)]),
         ev("m3", "adjust", "MINE", "BO", "2025-03-05", reason="stock-take",
            outputs=[out("FOUND", "concentrate", 200, **CONC)]))  # type: ignore[arg-type]  # fmt: skip
    found = audit(store, "stock_gain")
    assert [(f.enterprise, f.lots, f.detail["gain_reo_kg"]) for f in found] == [
        ("MINE", ("MINE:FOUND",), 100.0)
    ]
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m4", "retract", "MINE", "BO", "2025-03-06", retracts="m3", reason="miscounted"),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "stock_gain") == []


# -- 10 period mass balance --------------------------------------------------------------------------


@pytest.mark.parametrize(("recovery", "fires"), [(0.94, False), (0.955, False), (0.97, True), (0.90, True)])
def test_separation_loss_band(store: Store, tmp_path: Path, recovery: float, fires: bool) -> None:
    setup(store)
    separation(store, tmp_path, [oxide("OX1", 500 * recovery)])
    found = audit(store, "period_mass_balance")
    assert [f.enterprise for f in found] == (["SEP"] if fires else [])
    if fires:
        d = found[0].detail
        assert d["process"] == "separation" and "REO" in d["out_of_band"]
        assert d["book_reo_kg"]["transformation_input"] == 500


def test_metal_loss_band_per_element(store: Store, tmp_path: Path) -> None:
    setup(store)

    def smelt(eid: str, n: str, day: str, pr_rec: float, nd_rec: float) -> dict[str, object]:
        # 100 kg of PrNd oxide (99 kg REO) to metal, Pr and Nd recovered separately.
        pr, nd = 24.75 * pr_rec, 74.25 * nd_rec
        prof = metal_profile({"Pr": pr, "Nd": nd})
        return ev(eid, "process", "MET", "MET-P", day, process="metal_smelting",
                  inputs=[inp("OX" + n, 100)],
                  outputs=[out("MT" + n, "metal", metal_mass_for(pr + nd, prof),
                               re_metal_pct=100, elements=prof)])  # fmt: skip

    submit_events(store, tmp_path, "MET", "2025-03", [
        *(ev(f"a{n}", "adjust", "MET", "MET-P", "2025-03-01", reason="opening stock",
             outputs=[out(f"OX{n}", "oxide", 100, reo_pct=99, elements=PRND)]) for n in "12"),
        smelt("p1", "1", "2025-03-05", 0.96, 0.96),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    assert audit(store, "period_mass_balance") == []
    # April: 3.25% REO loss, inside the band, but Pr alone loses only 1%.
    submit_events(store, tmp_path, "MET", "2025-04", [smelt("p2", "2", "2025-04-05", 0.99, 0.96)],
                  received_at=APRIL_RECEIVED)  # fmt: skip
    found = audit(store, "period_mass_balance")
    assert [(f.enterprise, f.period, sorted(f.detail["out_of_band"])) for f in found] == [
        ("MET", "2025-04", ["Pr"])
    ]
