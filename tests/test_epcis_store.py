"""EPCIS over a store: export from the log (schema-valid, reference hash IDs), the CLI, import as a
submission (same rules, errors by event index and field, all or nothing), and the round trip."""

from __future__ import annotations

import hashlib
import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from epcis_event_hash_generator import hash_generator, json_to_py

import reetrace
from reetrace.cli import main
from reetrace.store import Store, open_store
from reetrace.store.schema import log, submissions
from tests.builders import write_jsonl
from tests.epcis_helpers import EXTRA, REPO, schema

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # see test_epcis_export.py

FIXED = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = ("NMMINE", "GXIMP", "NMSEP", "NBMET", "NBMAG")
RECEIVED = datetime.fromisoformat("2025-04-09T17:00:00+08:00")


def _validate(raw: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(raw)
    jsonschema.Draft7Validator(schema()).validate(doc)
    return doc


def _reference_ids(doc: dict[str, Any]) -> list[str]:
    events = json_to_py.event_list_from_epcis_document_json(doc)
    return list(hash_generator.epcis_hashes_from_events(events))


def _fill_examples(store: Store, tmp_path: Path, *, extra: bool = True) -> None:
    """examples/ (registry and the March chain), plus NMSEP's adjust, consume, toll and retract."""
    reetrace.load_registry(store, reetrace.parse_registry(str(REPO / "examples" / "registry.json")))
    for ent in ORDER:
        reetrace.submit(store, str(REPO / "examples" / f"{ent}-2025-03.jsonl"), enterprise=ent,
                        period="2025-03", received_at=RECEIVED)  # fmt: skip
    if extra:
        sep = [e for e in EXTRA if e["enterprise"] == "NMSEP" and e["type"] != "retract"]
        path = write_jsonl(tmp_path / "NMSEP-extra.jsonl", sep)
        reetrace.submit(store, str(path), enterprise="NMSEP", period="2025-03", received_at=RECEIVED)
        ret = [e for e in EXTRA if e["type"] == "retract"]
        path = write_jsonl(tmp_path / "NMSEP-04.jsonl", ret)
        reetrace.submit(store, str(path), enterprise="NMSEP", period="2025-04", received_at=RECEIVED)


def _export(store: Store, **kw: Any) -> bytes:
    buf = io.BytesIO()
    reetrace.export_epcis(store, buf, creation_date=FIXED, **kw)
    return buf.getvalue()


def test_export_from_a_store_validates_and_hash_ids_equal_the_reference(store: Store, tmp_path: Path) -> None:
    _fill_examples(store, tmp_path)
    doc = _validate(_export(store))
    evs = doc["epcisBody"]["eventList"]
    with store.reading() as conn:
        n_events = conn.execute(sa.select(sa.func.count()).select_from(log).where(log.c.kind == "event"))
        assert len(evs) == n_events.scalar()
    assert [e["eventID"] for e in evs] == _reference_ids(doc)
    # The retract is the withdrawn event again, same hash ID, with its error declaration.
    declared = [e for e in evs if "errorDeclaration" in e]
    assert len(declared) == 1
    original = [e for e in evs if e["reetrace:eventID"] == "ADJ-1" and "errorDeclaration" not in e]
    assert declared[0]["eventID"] == original[0]["eventID"]


def test_export_selects_by_enterprise_period_and_lot(store: Store, tmp_path: Path) -> None:
    _fill_examples(store, tmp_path)
    march = json.loads(_export(store, period="2025-03"))["epcisBody"]["eventList"]
    sep = json.loads(_export(store, enterprise="NMSEP", period="2025-03"))["epcisBody"]["eventList"]
    april = json.loads(_export(store, period="2025-04"))["epcisBody"]["eventList"]
    assert {e["reetrace:reporter"] for e in sep} == {"urn:reetrace:party:NMSEP"}
    assert len(sep) < len(march) and len(april) == 1
    back = json.loads(_export(store, lot="NBMAG:MAG-2503-0042"))["epcisBody"]["eventList"]
    ids = {e["reetrace:eventID"] for e in back}
    # The magnet's trace: magnet making, the metal, separation, receipts, back to the mine and import.
    assert {"SEP-0312", "SEP-0313"} <= ids
    assert any(e["reetrace:eventType"] == "extract" for e in back)
    assert any(e["reetrace:eventType"] == "import" for e in back)
    fwd = json.loads(_export(store, lot="NMMINE:BOC-2503-01", forward=True))["epcisBody"]["eventList"]
    assert "SEP-0312" in {e["reetrace:eventID"] for e in fwd}
    with pytest.raises(ValueError, match="no enterprise or period"):
        _export(store, lot="NBMAG:MAG-2503-0042", period="2025-03")


def test_cli_export_writes_the_file_atomically(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    _fill_examples(store, tmp_path)
    store.dispose()
    out = tmp_path / "march.jsonld"
    runner = CliRunner()
    r = runner.invoke(main, ["epcis", "export", "-e", "NMSEP", "-p", "2025-03", "-o", str(out),
                             "--db", sqlite_url])  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = _validate(out.read_bytes())
    assert [e["eventID"] for e in doc["epcisBody"]["eventList"]] == _reference_ids(doc)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".march")] == []
    r = runner.invoke(main, ["epcis", "export", "-p", "2025-03", "--db", sqlite_url])
    assert r.exit_code == 0
    assert len(json.loads(r.stdout_bytes)["epcisBody"]["eventList"]) > len(doc["epcisBody"]["eventList"])
    # A failed export leaves no file behind (and no temporary one).
    bad = tmp_path / "bad.jsonld"
    r = runner.invoke(main, ["epcis", "export", "--lot", "NBMAG:NOPE", "-o", str(bad), "--db", sqlite_url])
    assert r.exit_code == 1 and "NOPE" in r.output
    assert not bad.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bad")]
    r = runner.invoke(main, ["epcis", "export", "--db", sqlite_url])
    assert r.exit_code == 2


def test_generated_month_exported_from_a_store_has_the_reference_hash_ids(tmp_path: Path) -> None:
    reetrace.generate_dataset(tmp_path / "gen", months=1, scale=0.05)
    store = open_store(f"sqlite:///{tmp_path / 'gen.db'}")
    reetrace.load_dataset(store, tmp_path / "gen")
    doc = _validate(_export(store, period="2025-01"))
    evs = doc["epcisBody"]["eventList"]
    assert len(evs) > 100
    assert [e["eventID"] for e in evs] == _reference_ids(doc)
    store.dispose()


PINNED = {
    "examples": "5b1cf11a9fa21df9dfb0b967ed0a958b2edc1402e4544106899b9205df940a5b",
    "generated_month": "cdce1e812e84abc0d6747e34c4ac908eb01ab6f8a5356954c85cefebf1842311",
}


def test_exported_bytes_from_a_store_are_pinned(store: Store, tmp_path: Path) -> None:
    """The whole export of fixed stores, byte for byte (digests taken before the export was optimised): the
    examples with a retract resolved in the store, and a generated month."""
    _fill_examples(store, tmp_path)
    assert hashlib.sha256(_export(store)).hexdigest() == PINNED["examples"]
    reetrace.generate_dataset(tmp_path / "gen", months=1, scale=0.05)
    gen = open_store(f"sqlite:///{tmp_path / 'gen.db'}")
    try:
        reetrace.load_dataset(gen, tmp_path / "gen")
        assert hashlib.sha256(_export(gen)).hexdigest() == PINNED["generated_month"]
    finally:
        gen.dispose()


def _envelopes(store: Store) -> list[dict[str, Any]]:
    with store.reading() as conn:
        rows = conn.execute(sa.select(log.c.body).where(log.c.kind == "submission").order_by(log.c.position))
        return [orjson.loads(bytes(b))["record"] for (b,) in rows]


def test_import_is_a_submission_whose_envelope_says_epcis(store: Store, tmp_path: Path) -> None:
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    _fill_examples(src, tmp_path, extra=False)
    reetrace.load_registry(store, reetrace.parse_registry(str(REPO / "examples" / "registry.json")))
    for ent in ORDER:
        doc = tmp_path / f"{ent}.jsonld"
        doc.write_bytes(_export(src, enterprise=ent, period="2025-03"))
        r = reetrace.import_epcis(store, doc, enterprise=ent, period="2025-03", received_at=RECEIVED)
        assert r.new_events > 0 and r.source == str(doc)
    env = _envelopes(store)[-1]
    assert env["source"] == "NBMAG.jsonld"  # the base name: the chain does not depend on where it was
    assert env["converted_from"]["format"] == "epcis"
    # Two backends may order a trace's equal-depth nodes differently: compare what it says.
    got, want = (reetrace.trace_back(s, "NBMAG:MAG-2503-0042").to_dict() for s in (store, src))
    for key in ("origins", "separation_plants", "enterprises", "reo_kg", "elements"):
        assert got[key] == want[key]
    assert sorted(n["lot"] for n in got["nodes"]) == sorted(n["lot"] for n in want["nodes"])
    again = reetrace.import_epcis(store, tmp_path / "NBMAG.jsonld", enterprise="NBMAG", period="2025-03")
    assert again.noop
    reetrace.verify(store)
    src.dispose()


def _counts(store: Store) -> int:
    with store.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(log)).scalar_one())


def test_import_errors_name_the_event_index_and_field_and_write_nothing(store: Store, tmp_path: Path) -> None:
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    _fill_examples(src, tmp_path, extra=False)
    doc = json.loads(_export(src, enterprise="NMSEP", period="2025-03"))
    src.dispose()
    reetrace.load_registry(store, reetrace.parse_registry(str(REPO / "examples" / "registry.json")))
    before = _counts(store)
    # 1. Mapping problems: found by the reader, with the EPCIS path.
    bad = json.loads(json.dumps(doc))
    bad["epcisBody"]["eventList"][2]["inputQuantityList"][0]["uom"] = "EA"
    bad["epcisBody"]["eventList"][4]["reetrace:reporter"] = "urn:reetrace:party:NBMAG"
    with pytest.raises(reetrace.InputError) as exc:
        reetrace.import_epcis(store, orjson.dumps(bad), enterprise="NMSEP", period="2025-03")
    fields = [(p.line, p.field) for p in exc.value.problems]
    assert (3, "eventList[2].inputQuantityList[0].uom") in fields
    assert (5, "eventList[4].reetrace:reporter") in fields
    # 2. Submission rules: found by submit, reported by event index (drawn lots do not exist here).
    with pytest.raises(reetrace.InputError) as exc:
        reetrace.import_epcis(store, orjson.dumps(doc), enterprise="NMSEP", period="2025-02")
    assert all(p.field.startswith(f"eventList[{p.line - 1}]") for p in exc.value.problems)
    assert any("occurred_at" in p.field and "outside the period" in p.reason for p in exc.value.problems)
    assert _counts(store) == before
    with pytest.raises(reetrace.InputError, match="1 error"):
        reetrace.import_epcis(store, b"{not json", enterprise="NMSEP", period="2025-03")


def test_cli_import(sqlite_url: str, tmp_path: Path) -> None:
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    _fill_examples(src, tmp_path, extra=False)
    doc = tmp_path / "NMMINE.jsonld"
    doc.write_bytes(_export(src, enterprise="NMMINE", period="2025-03"))
    src.dispose()
    runner = CliRunner()
    reg = str(REPO / "examples" / "registry.json")
    assert runner.invoke(main, ["registry", "load", reg, "--db", sqlite_url]).exit_code == 0
    args = ["epcis", "import", str(doc), "-e", "NMMINE", "-p", "2025-03", "--db", sqlite_url]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "recorded 2 events" in r.output
    r = runner.invoke(main, [*args[:5], "-p", "2025-04", "--db", sqlite_url])
    assert r.exit_code == 1 and "eventList[0] occurred_at" in r.output


def _submissions(store: Store) -> list[tuple[int, str, str, datetime]]:
    with store.reading() as conn:
        q = sa.select(submissions.c.position, submissions.c.enterprise, submissions.c.period,
                      submissions.c.received_at).order_by(submissions.c.position)  # fmt: skip
        return [(int(p), e, per, rec) for p, e, per, rec in conn.execute(q)]


@pytest.mark.slow
def test_round_trip_of_a_generated_year_gives_identical_traces_and_audit(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    reetrace.generate_dataset(gen, scale=0.2, inject=sorted(reetrace.INJECTION_KINDS))
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    reetrace.load_dataset(src, gen)
    # Export everything in one document: it validates.
    everything = _export(src)
    _validate(everything)
    # Then as it would travel: each submission exported, imported into an empty store (registry first).
    dst = open_store(f"sqlite:///{tmp_path / 'dst.db'}")
    reetrace.load_registry(dst, reetrace.parse_registry(str(gen / "registry.json")))
    subs = _submissions(src)
    n = 0
    for pos, ent, per, received in subs:
        raw = _export(src, submission=pos)
        n += len(json.loads(raw)["epcisBody"]["eventList"])
        reetrace.import_epcis(dst, raw, enterprise=ent, period=per, received_at=received)
    assert n == len(json.loads(everything)["epcisBody"]["eventList"])
    with src.reading() as conn:
        lots = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT lot FROM effective_lots ORDER BY lot"))]
    for lot in random.Random(2025).sample(lots, 50):
        assert reetrace.trace_back(dst, lot).to_dict() == reetrace.trace_back(src, lot).to_dict(), lot
    a = reetrace.run_audit(src, as_of=FIXED)
    b = reetrace.run_audit(dst, as_of=FIXED)
    assert a.findings and [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]
    reetrace.verify(dst)
    src.dispose()
    dst.dispose()


def test_the_store_export_equals_the_export_of_the_records_validated_back(tmp_path: Path) -> None:
    """The store export decodes each record and maps it without validating it into an Event again; that is
    only right if validation gives the record back unchanged. Check it on a generated dataset with every
    injected anomaly: the bytes equal those of the events validated back (``select_events``)."""
    from reetrace.epcis import write_document
    from reetrace.epcis.store_export import select_events, store_resolver

    gen = tmp_path / "gen"
    reetrace.generate_dataset(gen, months=2, scale=0.05, inject=sorted(reetrace.INJECTION_KINDS))
    store = open_store(f"sqlite:///{tmp_path / 'gen.db'}")
    try:
        reetrace.load_dataset(store, gen, continue_on_error=True)
        fast = _export(store)
        slow = io.BytesIO()
        with store.reading() as conn:
            write_document(select_events(conn), slow, resolve=store_resolver(conn), creation_date=FIXED)
    finally:
        store.dispose()
    assert len(orjson.loads(fast)["epcisBody"]["eventList"]) > 100
    assert fast == slow.getvalue()
