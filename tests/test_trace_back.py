"""Backward traces on hand-built chains whose shares were computed by hand (both backends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from reetrace.audit.for_trace import audit_findings
from reetrace.store import Store
from reetrace.trace import BackTrace, LotNotFound, trace_back
from tests.builders import ALLOY, PRND, Chain, magnet_chain, out


def back(store: Store, lot: str, **kw: Any) -> BackTrace:
    with store.reading() as conn:
        return trace_back(conn, lot, **kw)


def shares(t: BackTrace) -> dict[tuple[str, str], float]:
    return {(o.kind, o.id): o.share for o in t.origins}


def el_shares(t: BackTrace, el: str) -> dict[tuple[str, str], float]:
    return {(o.kind, o.id): (o.element_shares or {})[el] for o in t.origins}


def approx(d: dict[Any, float]) -> Any:
    return pytest.approx(d, rel=1e-9, abs=1e-12)


def two_mines(c: Chain) -> None:
    """BO concentrate (50% REO, La/Nd 50/50) and SC concentrate (30% REO, La/Nd/Dy 20/30/50)."""
    c.extract("MINE", "2025-03-02", "ORE1", 1000, 50, {"La": 50, "Nd": 50})
    c.extract("MINE2", "2025-03-02", "ORE2", 2000, 30, {"La": 20, "Nd": 30, "Dy": 50})
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1",
               out("C1", "concentrate", 1000, reo_pct=50, elements={"La": 50, "Nd": 50}))  # fmt: skip
    c.transfer("MINE2", "SEP", "2025-03-03", "ORE2",
               out("C2", "concentrate", 2000, reo_pct=30,
                   elements={"La": 20, "Nd": 30, "Dy": 50}))  # fmt: skip


def test_single_path(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    profile = {"La": 40, "Pr": 15, "Nd": 45}
    c.extract("MINE", "2025-03-02", "ORE1", 1000, 50, profile)
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1",
               out("C1", "concentrate", 1000, reo_pct=50, elements=profile))  # fmt: skip
    c.process("SEP", "2025-03-05", "separation", [("C1", 1000)],
              [out("OX", "oxide", 300, reo_pct=99, elements=PRND)])  # fmt: skip
    c.submit()
    t = back(store, "SEP:OX")
    assert shares(t) == {("mine", "BO"): 1.0}
    (o,) = t.origins
    assert o.element_shares == {"Pr": 1.0, "Nd": 1.0}
    assert o.lots == ["MINE:ORE1"] and o.detail["enterprise"] == "MINE" and not o.estimated
    assert [(p.site, p.enterprise, p.share) for p in t.separation_plants] == [("SEP-P", "SEP", 1.0)]
    assert t.enterprises == ["MINE", "SEP"]
    assert t.reo_kg == pytest.approx(297.0)
    assert [(n.lot, n.depth, n.share) for n in t.nodes] == [
        ("SEP:OX", 0, 1.0), ("SEP:C1", 1, 1.0), ("MINE:ORE1", 2, 1.0)]  # fmt: skip
    assert t.node("MINE:ORE1").origin == ("mine", "BO")
    assert t.node("SEP:OX").plant == "SEP-P"
    assert sorted((e.src, e.dst, e.mass_kg) for e in t.edges) == [
        ("MINE:ORE1", "SEP:C1", 1000.0), ("SEP:C1", "SEP:OX", 1000.0)]  # fmt: skip
    assert not t.estimated and not t.element_estimated and t.notes == []


def test_blend_of_two_mines(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    two_mines(c)
    # Draws 800 kg of C1 (400 kg REO: La 200, Nd 200) and 1000 kg of C2 (300: La 60, Nd 90, Dy 150).
    c.process("SEP", "2025-03-05", "separation", [("C1", 800), ("C2", 1000)],
              [out("OX", "oxide", 500, reo_pct=99, elements={"La": 40, "Nd": 40, "Dy": 20})])  # fmt: skip
    c.submit()
    t = back(store, "SEP:OX")
    assert shares(t) == approx({("mine", "BO"): 4 / 7, ("mine", "SC"): 3 / 7})
    assert el_shares(t, "La") == approx({("mine", "BO"): 200 / 260, ("mine", "SC"): 60 / 260})
    assert el_shares(t, "Nd") == approx({("mine", "BO"): 200 / 290, ("mine", "SC"): 90 / 290})
    assert el_shares(t, "Dy") == approx({("mine", "BO"): 0.0, ("mine", "SC"): 1.0})
    edge = {(e.src, e.dst): e for e in t.edges}
    assert edge[("SEP:C1", "SEP:OX")].reo_kg == pytest.approx(400.0)
    assert edge[("SEP:C1", "SEP:OX")].share == pytest.approx(4 / 7)
    assert sum(o.share for o in t.origins) == pytest.approx(1.0)


def test_separation_with_three_outputs(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    two_mines(c)
    # 1000 kg C1 (500 kg REO) + 1000 kg C2 (300 kg REO): each output is 5/8 BO, 3/8 SC.
    c.process("SEP", "2025-03-05", "separation", [("C1", 1000), ("C2", 1000)], [
        out("LA", "oxide", 200, reo_pct=99, elements={"La": 100}),
        out("ND", "oxide", 300, reo_pct=99, elements={"Nd": 100}),
        out("DY", "oxide", 150, reo_pct=99, elements={"Dy": 100}),
    ])  # fmt: skip
    # A blend of two of those outputs: the plant is crossed twice, but only 100% of the REO passes.
    c.process("SEP", "2025-03-06", "beneficiation", [("ND", 100), ("DY", 50)],
              [out("MIX", "mixed_compound", 150, reo_pct=99, elements={"Nd": 66.7, "Dy": 33.3})])  # fmt: skip
    c.submit()
    for lot in ("SEP:LA", "SEP:ND", "SEP:DY", "SEP:MIX"):
        t = back(store, lot)
        assert shares(t) == approx({("mine", "BO"): 5 / 8, ("mine", "SC"): 3 / 8}), lot
        assert [(p.site, p.share) for p in t.separation_plants] == [("SEP-P", pytest.approx(1.0))]
    # Element shares of one output follow the inputs' element content: Dy 0/150 from BO.
    assert el_shares(back(store, "SEP:DY"), "Dy") == approx({("mine", "BO"): 0.0, ("mine", "SC"): 1.0})
    t = back(store, "SEP:MIX")
    assert t.separation_plants[0].lots == ["SEP:DY", "SEP:ND"]
    # 100 kg of ND and 50 kg of DY, both 99% REO: 2/3 and 1/3 of the mix passed through each.
    assert t.node("SEP:ND").share == pytest.approx(2 / 3) and t.node("SEP:DY").share == pytest.approx(1 / 3)


def test_metal_and_magnet_with_re_metal_pct(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    magnet_chain(c)
    c.submit()
    t = back(store, "MAG:MAG1")
    # The magnet step draws 100 kg of metal M1 (99% RE metal, Pr/Nd 25/75) and 200 kg of alloy A1
    # (70% RE metal, Nd/Dy 85/15); metal is turned into oxide element by element (BRIEF §7).
    pr_m1, nd_m1 = 99 * PRND["Pr"] / 100 / 0.8277, 99 * PRND["Nd"] / 100 / 0.8574
    nd_a1, dy_a1 = 140 * ALLOY["Nd"] / 100 / 0.8574, 140 * ALLOY["Dy"] / 100 / 0.8713
    m1, a1 = pr_m1 + nd_m1, nd_a1 + dy_a1
    # The alloy is 297 kg Nd oxide (entry CE-1) and 59.4 kg Dy oxide (entry CE-2) drawn.
    f_nd, f_dy = 297 / 356.4, 59.4 / 356.4
    assert shares(t) == approx({
        ("mine", "BO"): m1 / (m1 + a1),
        ("import", "CE-1"): a1 / (m1 + a1) * f_nd,
        ("import", "CE-2"): a1 / (m1 + a1) * f_dy,
    })  # fmt: skip
    # The magnet's Pr is all Bayan Obo, its Dy all the Myanmar import, its Nd split by Nd content.
    assert el_shares(t, "Pr") == approx({("mine", "BO"): 1.0, ("import", "CE-1"): 0.0,
                                         ("import", "CE-2"): 0.0})  # fmt: skip
    assert el_shares(t, "Dy") == approx({("mine", "BO"): 0.0, ("import", "CE-1"): 0.0,
                                         ("import", "CE-2"): 1.0})  # fmt: skip
    assert el_shares(t, "Nd") == approx({("mine", "BO"): nd_m1 / (nd_m1 + nd_a1),
                                         ("import", "CE-1"): nd_a1 / (nd_m1 + nd_a1),
                                         ("import", "CE-2"): 0.0})  # fmt: skip
    imp = t.origin("import", "CE-2")
    assert imp.detail == {"enterprise": "IMP", "site": "PORT", "country": "MM", "hs_code": "2846.90"}
    assert imp.lots == ["IMP:DY"]
    assert [p.site for p in t.separation_plants] == ["SEP-P"]
    assert t.separation_plants[0].share == pytest.approx(m1 / (m1 + a1))
    assert t.enterprises == ["IMP", "MAG", "MET", "MINE", "SEP"]
    # The other outputs of the separation (La, Ce oxide) and the scrap are not ancestors.
    assert {n.lot for n in t.nodes}.isdisjoint({"SEP:LA", "SEP:CE", "MAG:SCR1"})
    assert not t.estimated and not t.element_estimated


def test_unexplained_lot_received(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    c.extract("MINE", "2025-03-02", "ORE1", 1000, 50)
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1", out("C1", "concentrate", 1000, reo_pct=50))
    # TRD ships a lot it never created; SEP receives it declared at 40% REO.
    c.transfer("TRD", "SEP", "2025-03-03", "X9", out("C9", "concentrate", 1000, reo_pct=40), ship=False)
    c.process("SEP", "2025-03-05", "separation", [("C1", 1000), ("C9", 500)],
              [out("OX", "oxide", 600, reo_pct=99, elements=PRND)])  # fmt: skip
    c.submit()
    t = back(store, "SEP:OX")
    # 500 kg REO from C1 and 500 × 40% = 200 kg from C9, which is wholly the unexplained TRD:X9.
    assert shares(t) == approx({("mine", "BO"): 5 / 7, ("unexplained", "TRD:X9"): 2 / 7})
    o = t.origin("unexplained", "TRD:X9")
    assert o.detail["reason"] == "no effective creating event" and o.detail["enterprise"] == "TRD"
    # A one-input receive needs no estimate: the share is exact given what SEP declared.
    assert not o.estimated and not t.estimated
    assert t.node("TRD:X9").created_by is None and t.node("TRD:X9").reo_kg is None
    assert any("unexplained" in n for n in t.notes)
    # The concentrates carry no profile: the element shares are estimated.
    assert t.element_estimated and any("element shares estimated" in n for n in t.notes)


def test_unexplained_lot_drawn_directly_is_estimated(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    c.extract("MINE", "2025-03-02", "ORE1", 1000, 50, {"La": 50, "Nd": 50})
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1",
               out("C1", "concentrate", 1000, reo_pct=50, elements={"La": 50, "Nd": 50}))  # fmt: skip
    # Toll processing: SEP separates TRD's lot X9, which nobody ever created, together with C1.
    c.process("SEP", "2025-03-05", "separation", [("C1", 1000), ("TRD:X9", 500)], [
        out("LA", "oxide", 500, reo_pct=99, elements={"La": 100}),
        out("ND", "oxide", 200, reo_pct=99, elements={"Nd": 100}),
    ], counterparty="TRD")  # fmt: skip
    c.submit()
    t = back(store, "SEP:ND")
    # X9's REO per kg is estimated from *all* the event's outputs (LA is not an ancestor of ND):
    # (495 + 198) kg REO out / 1500 kg drawn = 0.462, so X9 gave 231 kg against C1's 500 kg.
    assert shares(t) == approx({("mine", "BO"): 500 / 731, ("unexplained", "TRD:X9"): 231 / 731})
    assert t.origin("unexplained", "TRD:X9").estimated and t.estimated
    assert t.origin("mine", "BO").estimated  # its share depends on the estimate too
    # X9's profile is taken as that of the outputs (La/Nd 495/198): Nd 500×0.462×198/693 = 66 kg.
    assert el_shares(t, "Nd") == approx({("mine", "BO"): 250 / 316, ("unexplained", "TRD:X9"): 66 / 316})
    assert any("REO shares estimated" in n for n in t.notes)


def test_retracted_event_is_left_out(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    two_mines(c)
    c.process("SEP", "2025-03-05", "separation", [("C1", 800), ("C2", 1000)],
              [out("OX", "oxide", 500, reo_pct=99, elements=PRND)], event_id="sep-1")  # fmt: skip
    c.submit()
    assert set(shares(back(store, "SEP:OX"))) == {("mine", "BO"), ("mine", "SC")}
    c.add("retract", "SEP", "2025-03-20", retracts="sep-1", reason="wrong feed", site=None)
    c.process("SEP", "2025-03-21", "separation", [("C1", 800)],
              [out("OX", "oxide", 300, reo_pct=99, elements=PRND)], event_id="sep-2")  # fmt: skip
    c.submit()
    t = back(store, "SEP:OX")
    assert shares(t) == {("mine", "BO"): 1.0}
    assert {(e.src, e.dst) for e in t.edges} == {("SEP:C1", "SEP:OX"), ("MINE:ORE1", "SEP:C1")}
    assert t.node("SEP:OX").created_by.event_id == "sep-2"  # type: ignore[union-attr]
    assert t.reo_kg == pytest.approx(297.0)


def test_retracted_creation_makes_a_lot_unexplained(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    c.add("extract", "MINE", "2025-03-02", event_id="m1",
          outputs=[out("ORE1", "concentrate", 1000, reo_pct=50)])  # fmt: skip
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1", out("C1", "concentrate", 1000, reo_pct=50))
    c.submit()
    c.add("retract", "MINE", "2025-03-25", retracts="m1", reason="never mined", site=None)
    c.submit()
    t = back(store, "SEP:C1")
    assert shares(t) == {("unexplained", "MINE:ORE1"): 1.0}


def test_scrap_intakes(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    magnet_chain(c)
    # (a) MAG's production scrap goes to REC and is recycled: the intake is REC:S1, and the walk
    # does not go on to MAG's magnet step and the mines behind it.
    c.transfer("MAG", "REC", "2025-03-15", "SCR1", out("S1", "scrap", 50, re_metal_pct=30))
    # (b) REC takes in scrap from a workshop outside the graph (WS:B7 was never created).
    c.transfer("WS", "REC", "2025-03-15", "B7", out("S7", "scrap", 30, re_metal_pct=20), ship=False)
    c.process("REC", "2025-03-16", "recycling", [("S1", 50), ("S7", 30)],
              [out("RO", "oxide", 20, reo_pct=99, elements=PRND)])  # fmt: skip
    # (b) without recycling: MAG blends bought-in scrap straight into a magnet.
    c.transfer("WS", "MAG", "2025-03-15", "B8", out("S8", "scrap", 100, re_metal_pct=30), ship=False)
    c.process("MAG", "2025-03-17", "magnet_making", [("S8", 100), ("M1", 100)],
              [out("MAG2", "magnet", 150, re_metal_pct=30, elements=PRND)])  # fmt: skip
    c.submit()
    t = back(store, "REC:RO")
    # Unknown-profile metal scrap converts with 0.85: S1 50×30%/0.85, S7 30×20%/0.85 -> 15 : 6.
    assert shares(t) == approx({("scrap", "REC:S1"): 15 / 21, ("scrap", "REC:S7"): 6 / 21})
    assert {n.lot for n in t.nodes} == {"REC:RO", "REC:S1", "REC:S7"}
    assert t.origin("scrap", "REC:S7").detail["reason"] == "drawn by recycling"
    t2 = back(store, "MAG:MAG2")
    s8 = 30 / 0.85
    m1 = 99 * 0.25 / 0.8277 + 99 * 0.75 / 0.8574
    assert shares(t2) == approx({("scrap", "MAG:S8"): s8 / (s8 + m1), ("mine", "BO"): m1 / (s8 + m1)})
    assert t2.origin("scrap", "MAG:S8").detail["reason"] == "received from outside the graph"
    assert "WS:B8" not in {n.lot for n in t2.nodes}


def test_stock_gain_is_unexplained(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    c.extract("MINE", "2025-03-02", "ORE1", 1000, 50)
    c.add("adjust", "MINE", "2025-03-02", reason="found in the yard",
          outputs=[out("ORE9", "concentrate", 1000, reo_pct=50)])  # fmt: skip
    c.process("MINE", "2025-03-04", "beneficiation", [("ORE1", 1000), ("ORE9", 1000)],
              [out("C", "concentrate", 1500, reo_pct=60)])  # fmt: skip
    c.submit()
    t = back(store, "MINE:C")
    assert shares(t) == {("mine", "BO"): 0.5, ("unexplained", "MINE:ORE9"): 0.5}
    assert "stock gain" in t.origin("unexplained", "MINE:ORE9").detail["reason"]


def test_deep_chain(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    c.extract("MINE", "2025-03-01", "L0", 1000, 50)
    hops = 400
    for i in range(1, hops + 1):
        c.process("MINE", "2025-03-02", "beneficiation", [(f"L{i - 1}", 1000)],
                  [out(f"L{i}", "concentrate", 1000, reo_pct=50)])  # fmt: skip
    c.submit()
    t = back(store, f"MINE:L{hops}")
    assert shares(t) == {("mine", "BO"): 1.0}
    assert len(t.nodes) == hops + 1 and max(n.depth for n in t.nodes) == hops


def test_wide_blend(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    n = 1500
    for i in range(n):
        c.extract("MINE" if i % 3 else "MINE2", "2025-03-01", f"O{i}", 10 + i % 7, 40)
    c.submit()
    # One event draws all of them: MINE's own lots only (an event draws own lots).
    mine = [i for i in range(n) if i % 3]
    c.process("MINE", "2025-03-05", "beneficiation", [(f"O{i}", 10 + i % 7) for i in mine],
              [out("BLEND", "concentrate", 5000, reo_pct=55)])  # fmt: skip
    c.submit()
    t = back(store, "MINE:BLEND")
    assert shares(t) == {("mine", "BO"): pytest.approx(1.0)}
    assert len(t.origins[0].lots) == len(mine) and len(t.nodes) == len(mine) + 1


def test_findings_hook(store: Store, tmp_path: Path) -> None:
    c = Chain(store, tmp_path)
    c.extract("MINE", "2025-03-02", "ORE1", 1000, 50)
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1", out("C1", "concentrate", 1000, reo_pct=50))
    c.transfer("TRD", "SEP", "2025-03-03", "X9", out("C9", "concentrate", 1000, reo_pct=40), ship=False)
    c.process("SEP", "2025-03-05", "separation", [("C1", 1000), ("C9", 500)],
              [out("OX", "oxide", 600, reo_pct=99, elements=PRND)])  # fmt: skip
    c.submit()
    seen: list[tuple[set[str], set[int]]] = []

    def fake(conn: Connection, lots: set[str], positions: set[int]) -> list[dict[str, Any]]:
        seen.append((lots, positions))
        return [{"rule": "r", "lots": ["TRD:X9"], "events": []},
                {"rule": "s", "lots": [], "events": [max(positions)]}]  # fmt: skip

    t = back(store, "SEP:OX", findings_for=fake)
    lots, positions = seen[0]
    assert lots == {"SEP:OX", "SEP:C1", "SEP:C9", "MINE:ORE1", "TRD:X9"}
    assert positions == {n.created_by.position for n in t.nodes if n.created_by}
    assert len(t.findings) == 2
    assert [f["rule"] for f in t.node("TRD:X9").findings] == ["r"]
    assert [f["rule"] for f in t.node("SEP:OX").findings] == ["s"]  # the last event created OX
    assert t.node("SEP:C1").findings == []

    # The real audit: the unexplained lot and the unmatched receive are findings on the way.
    t = back(store, "SEP:OX", findings_for=audit_findings)
    rules = {f["rule"] for f in t.node("TRD:X9").findings}
    assert "unexplained_lot" in rules
    assert all("TRD:X9" in f["lots"] or f["events"] for f in t.findings)


def test_unknown_lot(store: Store, tmp_path: Path) -> None:
    Chain(store, tmp_path)
    with pytest.raises(LotNotFound, match="no lot NOBODY:X"):
        back(store, "NOBODY:X")
    with pytest.raises(ValueError, match="ENT:LOT"):
        back(store, "justacode")


def test_order_refuses_a_cycle() -> None:
    from reetrace.errors import ReetraceError
    from reetrace.trace.order import topological

    pairs = [("A", "B"), ("B", "C"), ("A", "C")]
    order = topological(["D"], pairs)
    assert sorted(order) == ["A", "B", "C", "D"]
    assert all(order.index(src) < order.index(dst) for src, dst in pairs)
    with pytest.raises(ReetraceError, match="cycle"):
        topological([], [("A", "B"), ("B", "C"), ("C", "A")])
