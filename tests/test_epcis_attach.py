"""Foreign provenance: a supplier's EPCIS document attached to an import entry (a hash-chained record,
derived into ``foreign_links``, re-derived by verify), and a trace back that continues past the customs
entry into the declared chain. Also: every GS1 example is attached, imported or refused per event."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import jsonschema
import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import reetrace
from reetrace.cli import main
from reetrace.epcis.attach import AttachResult
from reetrace.store import Store, open_store
from reetrace.store.schema import foreign_links
from reetrace.trace.declared import NOT_VERIFIED
from tests.epcis_helpers import DATA, REPO, schema

EX = REPO / "examples"
MY = EX / "epcis" / "MY-supplier.jsonld"
ENTRY = "530420250402007"
MINE = "urn:epc:id:sgln:9551234.00010.0"
MAGNET = "NBMAG:MAG-2504-0007"
GS1 = sorted((DATA / "examples").glob("*.jsonld"))


def _fill(store: Store) -> None:
    """examples/ March, then the April chain of the Malaysian import (examples/epcis/)."""
    reetrace.load_registry(store, reetrace.parse_registry(str(EX / "registry.json")))
    for ent in ("NMMINE", "GXIMP", "NMSEP", "NBMET", "NBMAG"):
        reetrace.submit(store, str(EX / f"{ent}-2025-03.jsonl"), enterprise=ent, period="2025-03",
                        received_at=datetime.fromisoformat("2025-04-09T17:00:00+08:00"))  # fmt: skip
    for ent in ("NMMINE", "GXIMP", "NMSEP", "NBMET", "NBMAG"):
        reetrace.submit(store, str(EX / "epcis" / f"{ent}-2025-04.jsonl"), enterprise=ent, period="2025-04",
                        received_at=datetime.fromisoformat("2025-05-08T17:00:00+08:00"))  # fmt: skip


def test_the_supplier_document_is_valid_epcis() -> None:
    jsonschema.Draft7Validator(schema()).validate(json.loads(MY.read_text()))


def test_trace_continues_past_the_customs_entry_into_the_declared_chain(store: Store) -> None:
    _fill(store)
    before = reetrace.trace_back(store, MAGNET)
    assert [(o.kind, o.id, round(o.share, 9)) for o in before.origins] == [("import", ENTRY, 1.0)]
    result = reetrace.attach_foreign(store, ENTRY, MY)
    assert (result.importer, result.origins, result.transformations, result.custody) == ("GXIMP", 1, 1, 2)
    assert [(r.index, r.event_type) for r in result.refused] == [(3, "AggregationEvent")]
    assert "moves no mass" in result.refused[0].reason
    after = reetrace.trace_back(store, MAGNET)
    mine = after.origin("foreign_mine", MINE)
    # 16,000 t of the supplier's own ore and 4,000 t bought in (no origin declared) made the MREC.
    assert mine.share == pytest.approx(0.8)
    assert mine.lots == ["GXIMP:MY-MREC-0402"]
    assert mine.detail["import_entries"] == [ENTRY] and mine.detail["verified"] is False
    assert mine.detail["note"] == NOT_VERIFIED
    assert mine.element_shares == pytest.approx({"Pr": 0.8, "Nd": 0.8})
    assert after.origin("import", ENTRY).share == pytest.approx(0.2)
    assert sum(o.share for o in after.origins) == pytest.approx(1.0)
    assert any(NOT_VERIFIED in n and "MY-supplier.jsonld" in n for n in after.notes)
    # The separation plant and our own nodes are unchanged: the declaration is additive.
    assert [p.site for p in after.separation_plants] == ["BT-SEP"]
    assert [n.lot for n in after.nodes] == [n.lot for n in before.nodes]
    # The March magnet (Bayan Obo and a Myanmar import) has nothing declared: untouched.
    march = reetrace.trace_back(store, "NBMAG:MAG-2503-0042")
    assert {o.kind for o in march.origins} == {"mine", "import"}
    assert reetrace.attach_foreign(store, ENTRY, MY).noop
    reetrace.verify(store)


def test_attach_refuses_unknown_entries_and_documents_without_masses(store: Store) -> None:
    _fill(store)
    with pytest.raises(reetrace.InputError) as exc:
        reetrace.attach_foreign(store, "999", MY)
    assert "no effective import event declares customs entry 999" in str(exc.value.problems[0])
    doc = DATA / "examples" / "Example_9.6.3-AggregationEvent.jsonld"
    with pytest.raises(reetrace.InputError) as exc:
        reetrace.attach_foreign(store, ENTRY, doc)
    assert exc.value.problems and all(p.line >= 1 and p.reason for p in exc.value.problems)
    with pytest.raises(reetrace.InputError, match="1 error"):
        reetrace.attach_foreign(store, ENTRY, b"[1, 2]")
    with store.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(foreign_links)).scalar() == 0


def test_verify_rederives_foreign_links(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    _fill(store)
    reetrace.attach_foreign(store, ENTRY, MY)
    reetrace.verify(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER foreign_links_no_update"))
        conn.execute(sa.text("UPDATE foreign_links SET mass_kg = mass_kg * 2 WHERE kind = 'edge'"))
    with pytest.raises(reetrace.VerificationFailed, match="foreign_links row differs"):
        reetrace.verify(store)
    store.dispose()


def test_foreign_links_are_append_only(store: Store) -> None:
    _fill(store)
    reetrace.attach_foreign(store, ENTRY, MY)
    for stmt in ("UPDATE foreign_links SET position = position", "DELETE FROM foreign_links"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(stmt))


@pytest.mark.parametrize("path", GS1, ids=lambda p: p.stem)
def test_every_gs1_example_is_attached_or_refused_per_event_and_never_crashes(
    sqlite_url: str, path: Path
) -> None:
    store = open_store(sqlite_url)
    _fill(store)
    n = len(orjson.loads(path.read_bytes())["epcisBody"]["eventList"])
    try:
        result: AttachResult | None = reetrace.attach_foreign(store, ENTRY, path)
    except reetrace.InputError as exc:
        result = None
        # Refused whole: one problem per event, each naming the event and saying why.
        assert sorted(p.line for p in exc.problems) == list(range(1, n + 1))
        assert all(p.field == f"eventList[{p.line - 1}]" and p.reason for p in exc.problems)
    if result is not None:
        assert result.origins + result.transformations + result.custody + len(result.refused) == n
        assert all(r.reason for r in result.refused)
        reetrace.trace_back(store, MAGNET)  # the trace runs over whatever was declared
    # As a submission (it does not follow our mapping): refused, every problem with its event.
    with pytest.raises(reetrace.InputError) as exc:
        reetrace.import_epcis(store, path, enterprise="GXIMP", period="2025-04")
    assert exc.value.problems and all(p.field.startswith("eventList[") for p in exc.value.problems if p.line)
    reetrace.verify(store)
    store.dispose()


def test_cli_attach(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    _fill(store)
    store.dispose()
    runner = CliRunner()
    r = runner.invoke(main, ["epcis", "attach", "--import-entry", ENTRY, str(MY), "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    assert "1 origin(s), 1 transformation(s)" in r.output and "refused eventList[3]" in r.output
    r = runner.invoke(main, ["trace", MAGNET, "--json", "--no-findings", "--db", sqlite_url])
    kinds = {o["kind"]: o["share"] for o in json.loads(r.output)["origins"]}
    assert kinds == {"foreign_mine": pytest.approx(0.8), "import": pytest.approx(0.2)}
    r = runner.invoke(main, ["epcis", "attach", "--import-entry", "nope", str(MY), "--db", sqlite_url])
    assert r.exit_code == 1 and "no effective import" in r.output


def test_declared_chain_shares_by_mass_two_mines_and_a_cycle() -> None:
    from reetrace.trace.declared import _declared

    rows = [
        (1, "origin", None, "ore-a", 300.0, "mine-A", "commissioning"),
        (1, "origin", None, "ore-b", 100.0, "mine-B", "commissioning"),
        (1, "edge", "ore-a", "conc", 300.0, "plant", "commissioning"),
        (1, "edge", "ore-b", "conc", 100.0, "plant", "commissioning"),
        (1, "edge", "conc", "mrec", 40.0, "plant", "commissioning"),
        (1, "edge", "bought", "mrec", 10.0, "plant", "commissioning"),
        (1, "custody", None, "conc", 400.0, "plant", "shipping"),  # an internal move: consumed later
    ]
    d = _declared(rows)  # no shipment of an unconsumed lot: starts at the final output
    assert {loc: round(s, 9) for loc, (s, _) in d.mines.items()} == {"mine-A": 0.6, "mine-B": 0.2}
    assert d.via == ["bought", "conc", "mrec", "ore-a", "ore-b"]
    cyc = _declared([(1, "edge", "x", "y", 1.0, None, None), (1, "edge", "y", "x", 1.0, None, None),
                     (1, "custody", None, "y", 1.0, None, "shipping")])  # fmt: skip
    assert cyc.cycle
