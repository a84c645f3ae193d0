"""A receive pairs lines; it never blends them (docs/contract/events.md, revised 2026-11-28).

The consignment of the issue: a magnet maker receives a PrNd metal lot (Bayan Obo) and a Dy-Fe alloy
lot (a Myanmar import) on one waybill, in one receive, and makes a magnet of both. Every store test
runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import strategies as st

from reetrace.audit import run_audit
from reetrace.errors import InputError, Refused
from reetrace.intake.files import read_events, write_csv
from reetrace.intake.submit import submit
from reetrace.models import RECORDED, Event
from reetrace.store import Store, open_store
from reetrace.store.chain import canonical, digest
from reetrace.store.derive import event_rows, submission_row
from reetrace.store.migrate import HEAD, _config, current
from reetrace.store.schema import edges, events, inputs, lots, submissions
from reetrace.store.verify import verify
from reetrace.trace import trace_back, trace_forward
from tests.builders import LCPN, PRND, Chain, inp, out, write_jsonl

# Metal -> oxide factors of the reference facts (docs/contract/reference-facts.md), written out so that
# the expected shares below are computed by hand, not by the code under test.
PR, ND, DY = 0.8277, 0.8574, 0.8713
#: REO-equivalent kg per kg of the PrNd metal (99% RE metal, Pr 25 / Nd 75) and the Dy-Fe alloy (80% Dy).
R_METAL = 0.99 * (0.25 / PR + 0.75 / ND)
R_ALLOY = 0.80 / DY
DYFE = {"Dy": 100.0}
MAGNET = {"Pr": 22.57, "Nd": 67.70, "Dy": 9.73}

WAYBILL = {"waybill": "WB-MET-0310"}


def metal(lot: str, kg: float, **kw: Any) -> dict[str, Any]:
    return {**out(lot, "metal", kg, product="PrNd metal", re_metal_pct=99, elements=PRND), **kw}


def alloy(lot: str, kg: float, **kw: Any) -> dict[str, Any]:
    return {**out(lot, "alloy", kg, product="Dy-Fe alloy", re_metal_pct=80, elements=DYFE), **kw}


def upstream(c: Chain) -> None:
    """MET holds PrNd metal M1 (200 kg, from the Bayan Obo mine) and Dy-Fe alloy A1 (100 kg, from
    import entry CE-2), and ships both to MAG on one waybill."""
    c.extract("MINE", "2025-03-02", "ORE1", 2000, 50, LCPN)
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1", out("C1", "concentrate", 2000, reo_pct=50, elements=LCPN))
    c.process("SEP", "2025-03-05", "separation", [("C1", 2000)], [
        out("PRND", "oxide", 240, reo_pct=99, elements=PRND),
        out("LA", "oxide", 240, reo_pct=99, elements={"La": 100}),
        out("CE", "oxide", 480, reo_pct=99, elements={"Ce": 100}),
    ])  # fmt: skip
    c.transfer("SEP", "MET", "2025-03-06", "PRND", out("PRND", "oxide", 240, reo_pct=99, elements=PRND))
    c.process("MET", "2025-03-07", "metal_smelting", [("PRND", 240)], [metal("M1", 200)])
    c.add("import", "IMP", "2025-03-04", outputs=[out("DY", "oxide", 500, reo_pct=99, elements=DYFE)],
          origin={"customs_entry": "CE-2", "country": "MM", "hs_code": "2846.90"})  # fmt: skip
    c.transfer("IMP", "MET", "2025-03-06", "DY", out("DY", "oxide", 500, reo_pct=99, elements=DYFE))
    c.process("MET", "2025-03-08", "alloying", [("DY", 100)], [alloy("A1", 100)])
    c.add("ship", "MET", "2025-03-10", counterparty="MAG", documents=WAYBILL,
          inputs=[inp("M1", 200), inp("A1", 100)])  # fmt: skip


def consignment(c: Chain, outputs: list[dict[str, Any]]) -> None:
    """MAG's one receive of the consignment, then a magnet of 150 kg metal and 20 kg alloy."""
    c.add("receive", "MAG", "2025-03-11", counterparty="MET", documents=WAYBILL, event_id="MAG-RCV",
          inputs=[inp("MET:M1", 200), inp("MET:A1", 100)], outputs=outputs)  # fmt: skip
    c.process("MAG", "2025-03-12", "magnet_making", [("M1", 150), ("A1", 20)],
              [out("MAG1", "magnet", 500, re_metal_pct=32.9, elements=MAGNET)])  # fmt: skip


#: The same pairing written two ways: outputs in another order, each naming its source; and outputs in
#: input order without ``from`` (paired by position).
BY_FROM = [alloy("A1", 100, **{"from": "MET:A1"}), metal("M1", 200, **{"from": "MET:M1"})]
BY_POSITION = [metal("M1", 200), alloy("A1", 100)]


def shares(t: Any) -> dict[tuple[str, str], float]:
    return {(o.kind, o.id): o.share for o in t.origins}


def el_shares(t: Any, el: str) -> dict[tuple[str, str], float]:
    return {(o.kind, o.id): (o.element_shares or {})[el] for o in t.origins}


def stored_edges(store: Store, position: int | None = None) -> list[tuple[str, str, float]]:
    q = sa.select(edges.c.src, edges.c.dst, edges.c.mass_kg)
    if position is not None:
        q = q.where(edges.c.position == position)
    with store.reading() as conn:
        return sorted((r[0], r[1], r[2]) for r in conn.execute(q))


def position_of(store: Store, enterprise: str, event_id: str) -> int:
    with store.reading() as conn:
        pos = conn.execute(
            sa.select(events.c.position).where(
                events.c.enterprise == enterprise, events.c.event_id == event_id
            )
        ).scalar_one()
    return int(pos)


# --------------------------------------------------------------------------------------------------
# The consignment: trace back and forward


@pytest.mark.parametrize("outputs", [BY_FROM, BY_POSITION], ids=["from", "position"])
def test_consignment_traces_each_lot_to_its_own_source(
    store: Store, tmp_path: Path, outputs: list[dict[str, Any]]
) -> None:
    c = Chain(store, tmp_path)
    upstream(c)
    consignment(c, outputs)
    c.submit()

    pos = position_of(store, "MAG", "MAG-RCV")
    assert stored_edges(store, pos) == [("MET:A1", "MAG:A1", 100.0), ("MET:M1", "MAG:M1", 200.0)]

    # Each received lot is its source, unchanged.
    assert shares(trace_back(store, "MAG:M1")) == {("mine", "BO"): 1.0}
    assert shares(trace_back(store, "MAG:A1")) == {("import", "CE-2"): 1.0}

    # The magnet blends 150 kg of metal and 20 kg of alloy by their drawn REO.
    t = trace_back(store, "MAG:MAG1")
    mine = 150 * R_METAL / (150 * R_METAL + 20 * R_ALLOY)
    assert shares(t) == pytest.approx({("mine", "BO"): mine, ("import", "CE-2"): 1 - mine}, rel=1e-9)
    assert mine == pytest.approx(0.90491, abs=1e-5)  # 174.752 kg of 193.115 kg drawn REO
    assert el_shares(t, "Nd") == pytest.approx({("mine", "BO"): 1.0, ("import", "CE-2"): 0.0})
    assert el_shares(t, "Pr") == pytest.approx({("mine", "BO"): 1.0, ("import", "CE-2"): 0.0})
    assert el_shares(t, "Dy") == pytest.approx({("mine", "BO"): 0.0, ("import", "CE-2"): 1.0})
    assert not t.estimated and not t.element_estimated
    recv = {(e.src, e.dst): e for e in t.edges if e.position == pos}
    assert set(recv) == {("MET:M1", "MAG:M1"), ("MET:A1", "MAG:A1")}
    assert all(e.share == 1.0 for e in recv.values())

    # Forward from the alloy: it reaches the magnet through MAG:A1 only, never the metal lot.
    f = trace_forward(store, "MET:A1")
    assert {n.lot for n in f.nodes} == {"MET:A1", "MAG:A1", "MAG:MAG1"}
    start = 100 * R_ALLOY
    assert f.reo_kg == pytest.approx(start)
    assert sum(e.reo_kg for e in f.ended) == pytest.approx(start, rel=1e-9)
    held = {e.lot: e.reo_kg for e in f.ended if e.kind == "held"}
    assert held["MAG:A1"] == pytest.approx(80 * R_ALLOY)
    assert not [e for e in f.ended if e.kind == "in_transit"]
    fm = trace_forward(store, "MET:M1")
    assert {n.lot for n in fm.nodes} == {"MET:M1", "MAG:M1", "MAG:MAG1"}
    assert sum(e.reo_kg for e in fm.ended) == pytest.approx(200 * R_METAL, rel=1e-9)

    assert verify(store).records > 0
    found = run_audit(store, rules=["output_exceeds_input", "unmatched_custody"]).findings
    assert [(f.rule, f.detail.get("kind")) for f in found] == []


def test_a_lot_split_on_arrival(store: Store, tmp_path: Path) -> None:
    """Two outputs from one input: the drawn mass is apportioned over the edges by output mass."""
    c = Chain(store, tmp_path)
    upstream(c)
    c.add("receive", "MAG", "2025-03-11", counterparty="MET", documents=WAYBILL, event_id="MAG-RCV",
          inputs=[inp("MET:M1", 200), inp("MET:A1", 100)],
          outputs=[metal("M1A", 120, **{"from": "MET:M1"}), alloy("A1", 100, **{"from": "A1"}),
                   metal("M1B", 80, **{"from": "MET:M1"})])  # fmt: skip
    c.submit()
    pos = position_of(store, "MAG", "MAG-RCV")
    assert stored_edges(store, pos) == [
        ("MET:A1", "MAG:A1", 100.0), ("MET:M1", "MAG:M1A", 120.0), ("MET:M1", "MAG:M1B", 80.0)]  # fmt: skip
    # A bare ``from`` is the sender's lot, stored as ENT:LOT.
    with store.reading() as conn:
        body = conn.execute(sa.text("SELECT body FROM log WHERE position = :p"), {"p": pos}).scalar_one()
    assert orjson.loads(bytes(body))["record"]["outputs"][1]["from"] == "MET:A1"

    assert shares(trace_back(store, "MAG:M1B")) == {("mine", "BO"): 1.0}
    f = trace_forward(store, "MET:M1")
    held = {e.lot: e.reo_kg for e in f.ended if e.kind == "held"}
    assert held == pytest.approx({"MAG:M1A": 120 * R_METAL, "MAG:M1B": 80 * R_METAL})
    assert not [e for e in f.ended if e.kind == "in_transit"]
    assert run_audit(store, rules=["output_exceeds_input"]).findings == []
    verify(store)


def test_a_split_heavier_than_what_was_drawn_is_a_finding(store: Store, tmp_path: Path) -> None:
    """Recorded, not refused: the parts of M1 weigh 210 kg out of 200 kg drawn (beyond 1%)."""
    c = Chain(store, tmp_path)
    upstream(c)
    c.add("receive", "MAG", "2025-03-11", counterparty="MET", documents=WAYBILL, event_id="MAG-RCV",
          inputs=[inp("MET:M1", 200), inp("MET:A1", 100)],
          outputs=[metal("M1A", 120, **{"from": "MET:M1"}), metal("M1B", 90, **{"from": "MET:M1"}),
                   alloy("A1", 100, **{"from": "MET:A1"})])  # fmt: skip
    c.submit()
    found = run_audit(store, rules=["output_exceeds_input"]).findings
    kinds = sorted((f.detail["kind"], f.detail["source"], f.severity) for f in found)
    # The REO of the parts exceeds what was drawn from M1 too; the alloy pair is clean.
    assert kinds == [("receive_mass", "MET:M1", "medium"), ("receive_reo", "MET:M1", "high")]
    mass = next(f for f in found if f.detail["kind"] == "receive_mass")
    assert mass.detail["input_kg"] == 200.0 and mass.detail["output_kg"] == 210.0
    assert mass.lots == ("MET:M1", "MAG:M1A", "MAG:M1B") and mass.enterprise == "MAG"


def test_an_excess_on_one_pair_is_not_offset_by_another(store: Store, tmp_path: Path) -> None:
    """Before pairing the REO check summed the whole receipt: an alloy declared richer hid behind a
    metal lot declared poorer. Per pair it is a finding."""
    c = Chain(store, tmp_path)
    upstream(c)
    c.add("receive", "MAG", "2025-03-11", counterparty="MET", documents=WAYBILL, event_id="MAG-RCV",
          inputs=[inp("MET:M1", 200), inp("MET:A1", 100)],
          outputs=[{**metal("M1", 200), "re_metal_pct": 90}, {**alloy("A1", 100), "re_metal_pct": 95}])  # fmt: skip
    c.submit()
    found = run_audit(store, rules=["output_exceeds_input"]).findings
    assert [(f.detail["kind"], f.detail["source"]) for f in found] == [("receive_reo", "MET:A1")]
    assert found[0].lots == ("MET:A1", "MAG:A1")


# --------------------------------------------------------------------------------------------------
# Errors at submission: every one with its line and field, nothing written


def _rcv(eid: str, outputs: list[dict[str, Any]], ins: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"event_id": eid, "type": "receive", "enterprise": "MAG", "site": "MAG-P",
            "occurred_at": "2025-03-11T10:00:00+08:00", "counterparty": "MET",
            "inputs": ins if ins is not None else [inp("MET:M1", 200), inp("MET:A1", 100)],
            "outputs": outputs}  # fmt: skip


BAD = [
    _rcv("R1", [metal("M1", 200, **{"from": "MET:M9"}), alloy("A1", 100, **{"from": "MET:A1"})]),
    _rcv("R2", [metal("M1", 200)], ins=[inp("MET:M1", 120), inp("MET:A1", 80)]),
    _rcv("R3", [metal("M1", 200, **{"from": "MET:M1"}), alloy("A1", 100)]),
    _rcv("R4", [metal("M1", 120, **{"from": "MET:M1"}), metal("M2", 80, **{"from": "MET:M1"})]),
    {"event_id": "P1", "type": "process", "process": "alloying", "enterprise": "MAG", "site": "MAG-P",
     "occurred_at": "2025-03-12T10:00:00+08:00", "inputs": [inp("M0", 10)],
     "outputs": [alloy("A9", 10, **{"from": "M0"})]},
]  # fmt: skip

#: (line, field, words of the reason) of each problem in a JSON Lines file of BAD.
JSONL_PROBLEMS = [
    (1, "inputs[0].lot", "no output of this receive comes from MET:M1"),
    (1, "outputs[0].from", "MET:M9 is not an input of this receive"),
    (2, "outputs", "2 input(s) and 1 output(s): name each output's source input with from"),
    (3, "inputs[1].lot", "no output of this receive comes from MET:A1"),
    (3, "outputs[1].from", "missing: other outputs of this receive name their source"),
    (4, "inputs[1].lot", "no output of this receive comes from MET:A1"),
    (5, "outputs[0].from", "from belongs on the outputs of a receive, not a process"),
]


def _matches(err: InputError, want: list[tuple[int, str, str]]) -> None:
    got = [(p.line, p.field, p.reason) for p in err.problems]
    assert [(line, fld) for line, fld, _ in got] == [(line, fld) for line, fld, _ in want], got
    for (_, _, reason), (_, _, words) in zip(got, want, strict=True):
        assert words in reason


def test_pairing_errors_in_a_jsonl_file(store: Store, tmp_path: Path) -> None:
    Chain(store, tmp_path)  # the registry
    before = store.head()
    path = write_jsonl(tmp_path / "bad.jsonl", BAD)
    with pytest.raises(InputError) as err:
        submit(store, str(path), enterprise="MAG", period="2025-03")
    _matches(err.value, JSONL_PROBLEMS)
    assert store.head() == before


def test_pairing_errors_in_a_csv_file(store: Store, tmp_path: Path) -> None:
    """In CSV each problem is on the row of its lot line, named by its column."""
    Chain(store, tmp_path)
    before = store.head()
    buf = io.StringIO()
    write_csv(BAD, buf)
    path = tmp_path / "bad.csv"
    path.write_text(buf.getvalue())
    with pytest.raises(InputError) as err:
        submit(store, str(path), enterprise="MAG", period="2025-03")
    # Rows: R1 in,in,out,out = 2-5; R2 in,in,out = 6-8; R3 9-12; R4 13-16; P1 in,out = 17-18.
    _matches(err.value, [
        (2, "lot", "no output of this receive comes from MET:M1"),
        (4, "from", "MET:M9 is not an input of this receive"),
        (6, "outputs", "2 input(s) and 1 output(s)"),
        (10, "lot", "no output of this receive comes from MET:A1"),
        (12, "from", "missing: other outputs"),
        (14, "lot", "no output of this receive comes from MET:A1"),
        (18, "from", "from belongs on the outputs of a receive, not a process"),
    ])  # fmt: skip
    assert store.head() == before


def test_from_on_an_in_row_of_a_csv_file() -> None:
    text = (
        "event_id,type,enterprise,site,occurred_at,counterparty,role,lot,from,product,form,mass_kg,re_metal_pct,Dy\n"
        "R,receive,MAG,MAG-P,2025-03-11T10:00:00+08:00,MET,in,MET:A1,MET:A1,,,100,,\n"
        "R,receive,MAG,MAG-P,2025-03-11T10:00:00+08:00,MET,out,A1,,Dy-Fe alloy,alloy,100,80,100\n"
    )
    (parsed,) = read_events(io.BytesIO(text.encode()), "csv", "f.csv")
    assert [(p.line, p.field) for p in parsed.problems] == [(2, "from")]


def test_csv_carries_from_and_old_files_without_the_column_still_read() -> None:
    ev = _rcv("R", BY_FROM)
    buf = io.StringIO()
    write_csv([ev], buf)
    (parsed,) = read_events(io.BytesIO(buf.getvalue().encode()), "csv", "f.csv")
    assert parsed.event is not None
    assert parsed.event.canonical() == Event.model_validate(ev).canonical()
    assert [o["from"] for o in parsed.event.canonical()["outputs"]] == ["MET:A1", "MET:M1"]
    # A file written before the column existed: positional pairing.
    old = "\n".join(line for line in _csv_without_from(_rcv("R", BY_POSITION)).splitlines()).encode()
    (parsed,) = read_events(io.BytesIO(old), "csv", "old.csv")
    assert parsed.problems == [] and parsed.event is not None
    assert all(o.from_ is None for o in parsed.event.outputs)


def _csv_without_from(ev: dict[str, Any]) -> str:
    buf = io.StringIO()
    write_csv([ev], buf)
    rows = [line.split(",") for line in buf.getvalue().splitlines()]
    col = rows[0].index("from")
    return "\n".join(",".join(r[:col] + r[col + 1 :]) for r in rows) + "\n"


# --------------------------------------------------------------------------------------------------
# Pairing by position and by ``from`` give the same edges


def _receive(ins: list[tuple[str, float]], outs: list[tuple[str, float, str | None]]) -> dict[str, Any]:
    rec = _rcv("R", [{**metal(lot, kg), **({"from": src} if src else {})} for lot, kg, src in outs],
               ins=[inp(lot, kg) for lot, kg in ins])  # fmt: skip
    return Event.model_validate(rec).canonical()


def _edges(rec: dict[str, Any]) -> set[tuple[str, str, float]]:
    return {(s, d, m) for _, s, d, m in event_rows(7, 1, 1, rec, "x")[3]}


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_position_and_from_agree_on_every_permutation(n: int) -> None:
    ins = [(f"MET:L{i}", 10.0 * (i + 1)) for i in range(n)]
    by_position = _edges(_receive(ins, [(f"R{i}", 10.0 * (i + 1), None) for i in range(n)]))
    assert by_position == {(f"MET:L{i}", f"MAG:R{i}", 10.0 * (i + 1)) for i in range(n)}
    for perm in itertools.islice(itertools.permutations(range(n)), 24):
        by_from = _edges(_receive(ins, [(f"R{i}", 10.0 * (i + 1), f"MET:L{i}") for i in perm]))
        assert by_from == by_position


@given(st.lists(st.floats(0.5, 1e6), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_position_and_from_agree(masses: list[float], rnd: Any) -> None:
    ins = [(f"MET:L{i}", kg) for i, kg in enumerate(masses)]
    outs = [(f"R{i}", kg, f"L{i}") for i, kg in enumerate(masses)]  # bare from: the sender's lot
    rnd.shuffle(outs)
    by_from = _edges(_receive(ins, outs))
    by_position = _edges(_receive(ins, [(f"R{i}", kg, None) for i, kg in enumerate(masses)]))
    assert by_from == by_position


@given(st.lists(st.floats(0.5, 1e6), min_size=1, max_size=6), st.floats(0.5, 1e6))
def test_a_split_keeps_what_was_drawn(parts: list[float], drawn: float) -> None:
    rec = _receive([("MET:L", drawn)], [(f"R{i}", kg, "MET:L") for i, kg in enumerate(parts)])
    got = _edges(rec)
    assert {d for _, d, _ in got} == {f"MAG:R{i}" for i in range(len(parts))}
    assert sum(m for _, _, m in got) == pytest.approx(drawn, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# Stores recorded before pairing


def _legacy_receives() -> list[dict[str, Any]]:
    """Two receives accepted before pairing: the consignment in input order (pairs by position now),
    and two lots merged into one on arrival (counts differ: stays a blend)."""
    merged = _rcv("MAG-MERGE", [metal("MX", 300)], ins=[inp("MET:M2", 150), inp("MET:M3", 150)])
    return [_rcv("MAG-RCV", BY_POSITION), merged]


def _append_the_old_way(store: Store, records: list[dict[str, Any]]) -> None:
    """What the writer of revision 0001 did: the same log records, edges every input × every output."""
    envelope = {
        "enterprise": "MAG", "period": "2025-03", "received_at": "2025-04-05T10:00:00+08:00",
        "received_at_given": True, "deadline": "2025-04-10T23:59:59+08:00", "late": False,
        "source": "MAG-2025-03.jsonl", "digest": "0" * 64,
    }  # fmt: skip
    with store.appending() as app:
        env = app.append("submission", canonical(envelope))
        app.add(submissions, submission_row(env, envelope))
        for line, rec in enumerate(records, start=1):
            body = canonical(rec)
            pos = app.append_event(body, line, env)
            ev, ls, ins, _ = event_rows(pos, env, line, orjson.loads(body), digest(body))
            app.add(events, ev)
            app.extend(lots, ls)
            app.extend(inputs, ins)
            app.extend(
                edges,
                [(pos, i["lot"], o["lot"], i["mass_kg"]) for i in rec["inputs"] for o in rec["outputs"]],
            )


def test_migration_pairs_the_receives_of_an_old_store(blank_db_url: str, tmp_path: Path) -> None:
    store = open_store(blank_db_url, migrate=False)
    try:
        _old_store_upgraded(store, tmp_path)
    finally:
        store.dispose()


def _old_store_upgraded(store: Store, tmp_path: Path) -> None:
    cfg = _config()
    with store.migration_lock() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    store._migrated = True  # stay at 0001 while the old records go in
    store.maintain_tree = False  # 0001 has no Merkle tree (migration 0003 builds it)
    if store.dialect == "postgresql":  # nor the owner's lock function (0003): the old writers typed LOCK
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE FUNCTION reetrace_lock_log() RETURNS void LANGUAGE sql "
                "AS 'LOCK TABLE log IN EXCLUSIVE MODE'"
            )
    c = Chain(store, tmp_path)
    upstream(c)
    # The writers of 0001 derived no documents rows (0008 adds them, from the log): write as they did.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("reetrace.intake.writer.document_rows", lambda position, rec: [])
        c.submit()
    # Accepted then, refused now (counts differ, no from): read as a record already in the log.
    old = [Event.model_validate(r, context={RECORDED: True}).canonical() for r in _legacy_receives()]
    _append_the_old_way(store, old)
    assert current(store.engine) == "0001"
    rcv, merge = position_of(store, "MAG", "MAG-RCV"), position_of(store, "MAG", "MAG-MERGE")
    assert len(stored_edges(store, rcv)) == 4  # the blend

    store._migrated = False
    store.maintain_tree = True
    store.migrate()
    assert current(store.engine) == HEAD
    assert stored_edges(store, rcv) == [("MET:A1", "MAG:A1", 100.0), ("MET:M1", "MAG:M1", 200.0)]
    assert stored_edges(store, merge) == [("MET:M2", "MAG:MX", 150.0), ("MET:M3", "MAG:MX", 150.0)]
    assert shares(trace_back(store, "MAG:M1")) == {("mine", "BO"): 1.0}
    assert shares(trace_back(store, "MAG:A1")) == {("import", "CE-2"): 1.0}
    verify(store)
    # The edges table is guarded again.
    with pytest.raises(Refused), store.appending() as app:
        app.conn.execute(sa.text("DELETE FROM edges WHERE position = :p"), {"p": rcv})
    # Migrating again changes nothing; new records keep deriving the same way.
    store._migrated = False
    store.migrate()
    later = Chain(store, tmp_path)
    later.process("MAG", "2025-04-02", "magnet_making", [("M1", 150), ("A1", 20)],
                  [out("MAG1", "magnet", 500, re_metal_pct=32.9, elements=MAGNET)])  # fmt: skip
    later.submit()
    mine = 150 * R_METAL / (150 * R_METAL + 20 * R_ALLOY)
    assert shares(trace_back(store, "MAG:MAG1")) == pytest.approx(
        {("mine", "BO"): mine, ("import", "CE-2"): 1 - mine}
    )
    verify(store)


def test_the_worked_example_of_the_contract_pairs_as_it_says() -> None:
    """docs/contract/events.md: the receipt MAG-0321 reads, and its edges are the two stated pairs."""
    text = (Path(__file__).parent.parent / "docs" / "contract" / "events.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    (receipt,) = [b for b in blocks if '"event_id": "MAG-0321"' in b]
    rec = Event.model_validate_json(receipt).canonical()
    assert _edges(rec) == {
        ("NBMET:DYFE-2503-01", "NBMAG:IN-D-21", 414.0),
        ("NBMET:PRNDM-2503-01", "NBMAG:IN-M-21", 4871.1),
    }
