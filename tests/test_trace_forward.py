"""Forward traces: descendants, who holds them, and where the start lot's REO ended (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reetrace.store import Store
from reetrace.trace import ForwardTrace, LotNotFound, trace_forward
from tests.builders import Chain, magnet_chain, out


def forward(store: Store, lot: str) -> ForwardTrace:
    with store.reading() as conn:
        return trace_forward(conn, lot)


def build(c: Chain) -> None:
    c.extract("MINE", "2025-03-02", "ORE1", 1000, 50)  # 500 kg REO
    c.extract("MINE2", "2025-03-02", "ORE2", 400, 50)
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1", out("C1", "concentrate", 600, reo_pct=50))
    c.transfer("MINE2", "SEP", "2025-03-03", "ORE2", out("C2", "concentrate", 400, reo_pct=50))
    # 300 kg REO from C1 and 200 from C2: each output is 60% ORE1; 445.5 of 500 kg REO come out.
    c.process("SEP", "2025-03-05", "separation", [("C1", 600), ("C2", 400)], [
        out("OXA", "oxide", 300, reo_pct=99, elements={"La": 100}),
        out("OXB", "oxide", 150, reo_pct=99, elements={"Nd": 100}),
    ])  # fmt: skip
    c.add("export", "SEP", "2025-03-08", inputs=[{"lot": "OXA", "mass_kg": 200}],
          destination={"country": "JP", "customs_entry": "EX-1"})  # fmt: skip
    c.add("export", "SEP", "2025-03-09", event_id="x-wrong", inputs=[{"lot": "OXA", "mass_kg": 50}],
          destination={"country": "KR", "customs_entry": "EX-2"})  # fmt: skip
    c.add("retract", "SEP", "2025-03-10", retracts="x-wrong", reason="typo", site=None)
    # 150 kg shipped to MET, 100 kg received: 50 kg are in transit.
    c.add("ship", "SEP", "2025-03-10", counterparty="MET", inputs=[{"lot": "OXB", "mass_kg": 150}])
    c.transfer("SEP", "MET", "2025-03-10", "OXB",
               out("OXB", "oxide", 100, reo_pct=99, elements={"Nd": 100}), ship=False)  # fmt: skip
    c.add("receive", "MET", "2025-03-11", counterparty="SEP", event_id="dup",
          inputs=[{"lot": "SEP:OXB", "mass_kg": 0.001}],
          outputs=[out("NOPE", "oxide", 0.001, reo_pct=99, elements={"Nd": 100})])  # fmt: skip
    c.add("retract", "MET", "2025-03-12", retracts="dup", reason="duplicate", site=None)
    c.add("consume", "MET", "2025-03-20", inputs=[{"lot": "OXB", "mass_kg": 100}])
    c.submit()


def test_forward_where_it_ended(store: Store, tmp_path: Path) -> None:
    build(Chain(store, tmp_path))
    t = forward(store, "MINE:ORE1")
    assert t.reo_kg == pytest.approx(500.0)
    assert {n.lot for n in t.nodes} == {"MINE:ORE1", "SEP:C1", "SEP:OXA", "SEP:OXB", "MET:OXB"}
    ends = {(e.kind, e.lot): e.reo_kg for e in t.ended}
    assert ends == pytest.approx({
        ("held", "MINE:ORE1"): 200.0,            # 400 kg never shipped
        ("held", "SEP:OXA"): 0.6 * 297 / 3,      # 100 of 300 kg left
        ("exported", "SEP:OXA"): 0.6 * 297 * 2 / 3,
        ("in_transit", "SEP:OXB"): 0.6 * 148.5 / 3,
        ("consumed", "MET:OXB"): 0.6 * 99,
        ("process_loss", "SEP:OXA"): 300 - 0.6 * 445.5,
    })  # fmt: skip
    assert sum(e.reo_kg for e in t.ended) == pytest.approx(500.0)
    assert sum(e.share for e in t.ended) == pytest.approx(1.0)
    exported = next(e for e in t.ended if e.kind == "exported")
    assert exported.detail["country"] == "JP" and exported.detail["customs_entry"] == "EX-1"
    transit = next(e for e in t.ended if e.kind == "in_transit")
    assert transit.detail == {"to": "MET", "kg": 50.0}

    node = {n.lot: n for n in t.nodes}
    assert node["SEP:OXA"].share == pytest.approx(0.6)
    assert node["SEP:OXA"].remaining_kg == pytest.approx(100.0)
    assert [d["type"] for d in node["SEP:OXA"].draws] == ["export"]  # the retracted one is gone
    assert node["MET:OXB"].share == pytest.approx(0.6)
    assert node["MET:OXB"].remaining_kg == 0.0
    assert node["MINE:ORE1"].remaining_kg == pytest.approx(400.0)
    assert node["MET:OXB"].depth == 3
    carried = {(e.src, e.dst): e.flow for e in t.edges}
    assert carried[("SEP:C1", "SEP:OXA")] == pytest.approx(0.6 * 297)
    assert not t.estimated and t.notes == []


def test_forward_from_an_intermediate_lot(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    magnet_chain(c)
    c.submit()
    t = forward(store, "MET:ND")
    lots = {n.lot for n in t.nodes}
    assert lots == {"MET:ND", "MET:A1", "MAG:A1", "MAG:MAG1", "MAG:SCR1"}
    # MET:ND holds 200 of its 500 kg; the rest went into the alloy, and on into the magnet.
    assert t.node("MET:ND").remaining_kg == pytest.approx(200.0)
    assert t.node("MET:A1").share == pytest.approx(297 / 356.4)
    assert sum(e.reo_kg for e in t.ended) == pytest.approx(t.reo_kg)


def test_forward_from_an_unexplained_lot(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    c.transfer("TRD", "SEP", "2025-03-03", "X9", out("C9", "concentrate", 1000, reo_pct=40), ship=False)
    c.submit()
    t = forward(store, "TRD:X9")
    assert t.reo_kg is None and t.estimated
    assert {n.lot for n in t.nodes} == {"TRD:X9", "SEP:C9"}
    # Its content is estimated from the receiving lot: 400 kg REO, all still held by SEP.
    assert [(e.kind, e.lot, round(e.reo_kg, 6)) for e in t.ended] == [("held", "SEP:C9", 400.0)]
    with pytest.raises(LotNotFound):
        forward(store, "TRD:NEVER")
