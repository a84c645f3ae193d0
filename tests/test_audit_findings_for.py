"""``findings_for``: the findings a trace shows on its nodes, found without auditing the store."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from reetrace.audit import RULES, findings_for, run_audit
from reetrace.store import Store
from tests.builders import AS_OF, BAYAN_OBO, MARCH_RECEIVED, ev, inp, out, setup, submit_events

CONC = {"reo_pct": 50.0, "elements": BAYAN_OBO}


def scenario(store: Store, tmp_path: Path) -> None:
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("ORE1", "concentrate", 1000, **CONC)]),  # type: ignore[arg-type]
        ev("m2", "consume", "MINE", "BO", "2025-03-03", inputs=[inp("ORE1", 600)]),
        ev("m3", "consume", "MINE", "BO", "2025-03-04", inputs=[inp("ORE1", 600)]),
        ev("m4", "adjust", "MINE", "BO", "2025-03-05", reason="stock-take",
           outputs=[out("FOUND", "concentrate", 50, **CONC)]),  # type: ignore[arg-type]
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-05", counterparty="MINE",
           inputs=[inp("MINE:GHOST", 800)], outputs=[out("C9", "concentrate", 800, **CONC)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip


def position(store: Store, event_id: str) -> int:
    with store.reading() as conn:
        q = sa.text("SELECT position FROM events WHERE event_id = :e")
        return int(conn.execute(q, {"e": event_id}).scalar_one())


def test_findings_for_lots_and_positions(store: Store, tmp_path: Path) -> None:
    setup(store)
    scenario(store, tmp_path)
    with store.reading() as conn:
        by_lot = findings_for(conn, {"MINE:ORE1"}, set(), as_of=AS_OF)
        assert [(f.rule, f.lots) for f in by_lot] == [("overdrawn_lot", ("MINE:ORE1",))]
        # A trace from SEP's concentrate reaches the lot nobody created, and the receive event.
        by_output = findings_for(conn, {"SEP:C9"}, set(), as_of=AS_OF)
        assert [(f.rule, f.enterprise) for f in by_output] == [
            ("unexplained_lot", "SEP"), ("unmatched_custody", "SEP")
        ]  # fmt: skip
        gain = findings_for(conn, set(), {position(store, "m4")}, as_of=AS_OF)
        assert [(f.rule, f.event_ids) for f in gain] == [("stock_gain", ("m4",))]
        assert findings_for(conn, {"MINE:NOTHING"}, set(), as_of=AS_OF) == []
        assert findings_for(conn, set(), set(), as_of=AS_OF) == []


def test_findings_for_agrees_with_the_whole_audit(store: Store, tmp_path: Path) -> None:
    """For every lot and event: the restricted run finds what the full audit finds touching it."""
    setup(store)
    scenario(store, tmp_path)
    full = [f for f in run_audit(store, as_of=AS_OF).findings if RULES[f.rule].touches_lots]
    assert {f.rule for f in full} >= {"overdrawn_lot", "unexplained_lot", "stock_gain"}
    with store.reading() as conn:
        lots = [r[0] for r in conn.execute(sa.text("SELECT lot FROM lots UNION SELECT lot FROM inputs"))]
        positions = [int(r[0]) for r in conn.execute(sa.text("SELECT position FROM events"))]
        for lot in lots:
            expected = [f for f in full if f.touches({lot}, set())]
            assert findings_for(conn, {lot}, set(), as_of=AS_OF) == expected, lot
        for pos in positions:
            expected = [f for f in full if f.touches(set(), {pos})]
            assert findings_for(conn, set(), {pos}, as_of=AS_OF) == expected, pos
