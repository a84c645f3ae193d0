"""The command line, end to end through CliRunner, checked through the library afterwards."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from reetrace.cli import main
from reetrace.intake.files import write_csv
from reetrace.store import open_store
from tests.builders import BAYAN_OBO, REGISTRY, ev, inp, out, write_jsonl

MARCH = [
    ev("m1", "extract", "MINE", "BO", "2025-03-02",
       outputs=[out("ORE1", "concentrate", 1000, reo_pct=50, elements=BAYAN_OBO)]),
    ev("m2", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP", inputs=[inp("ORE1", 1000)],
       documents={"waybill": "W1"}),
]  # fmt: skip
ON_TIME = ["--received-at", "2025-04-03T09:00:00+08:00", "--historical"]


def run(db: str, *args: str, input: bytes | None = None, ok: bool = True) -> Any:
    result = CliRunner().invoke(main, [*args, "--db", db], input=input, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1, result.output
    return result


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> str:
    reg = tmp_path / "registry.json"
    reg.write_bytes(orjson.dumps(REGISTRY))
    r = run(db_url, "registry", "load", str(reg))
    assert "6 enterprises added" in r.output
    return db_url


def count(db: str, table: str) -> int:
    store = open_store(db)
    try:
        with store.reading() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        store.dispose()


def test_submit_then_resubmit(db: str, tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "march.jsonl", MARCH)
    r = run(db, "submit", str(f), "-e", "MINE", "-p", "2025-03", *ON_TIME)
    assert "recorded 2 events (2 lot lines) for MINE 2025-03" in r.output and "on time" in r.output
    r = run(db, "submit", str(f), "-e", "MINE", "-p", "2025-03", *ON_TIME)
    assert "nothing changed" in r.output
    assert count(db, "events") == 2


def test_submit_reports_every_error_with_file_line_and_field(db: str, tmp_path: Path) -> None:
    bad = [dict(MARCH[0]), dict(MARCH[1])]
    bad[0]["outputs"] = [{**MARCH[0]["outputs"][0], "reo_pct": -1}]
    bad[1]["inputs"] = [inp("ORE9", 5)]
    f = write_jsonl(tmp_path / "bad.jsonl", bad)
    r = run(db, "submit", str(f), "-e", "MINE", "-p", "2025-03", ok=False)
    assert f"{f}: 2 errors; nothing was written" in r.output
    assert f"{f}:1: outputs[0].reo_pct: Input should be greater than 0" in r.output
    assert f"{f}:2: inputs[0].lot: MINE:ORE9 does not exist" in r.output
    assert count(db, "events") == 0


def test_submit_from_stdin_gzip_and_csv(db: str, tmp_path: Path) -> None:
    data = b"".join(orjson.dumps(e) + b"\n" for e in MARCH)
    r = run(db, "submit", "-", "-e", "MINE", "-p", "2025-03", *ON_TIME, input=gzip.compress(data))
    assert "recorded 2 events" in r.output
    april = [ev("a1", "extract", "MINE", "BO", "2025-04-02", outputs=[out("ORE2", "ore", 10, reo_pct=4)])]
    buf = io.StringIO()
    write_csv(april, buf)
    f = tmp_path / "april.csv"
    f.write_text(buf.getvalue())
    r = run(db, "submit", str(f), "-e", "MINE", "-p", "2025-04", "--json")
    got = orjson.loads(r.output)
    assert got["new_events"] == 1 and got["late"] is True and got["noop"] is False


def test_bad_arguments_are_explained(db: str, tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "m.jsonl", MARCH)
    r = CliRunner().invoke(main, ["submit", str(f), "-e", "MINE", "-p", "2025-13", "--db", db])
    assert r.exit_code == 2 and "not YYYY-MM" in r.output  # a usage error, like a bad --received-at
    assert (
        "GHOST is not in the registry"
        in run(db, "submit", str(f), "-e", "GHOST", "-p", "2025-03", ok=False).output
    )
    r = CliRunner().invoke(
        main, ["submit", str(f), "-e", "MINE", "-p", "2025-03", "--received-at", "2025-04-03", "--db", db]
    )
    assert r.exit_code == 2 and "give an offset" in r.output
    assert (
        "no such file"
        in run(db, "submit", str(tmp_path / "nope.jsonl"), "-e", "MINE", "-p", "2025-03", ok=False).output
    )
    odd = tmp_path / "m.txt"
    odd.write_text("")
    assert "--format" in run(db, "submit", str(odd), "-e", "MINE", "-p", "2025-03", ok=False).output
    reg = tmp_path / "reg.json"
    reg.write_text('{"groups": [{"code": "A"}]}')
    assert "groups[0].name: Field required" in run(db, "registry", "load", str(reg), ok=False).output


def test_verify_checkpoint_and_tampering(db: str, tmp_path: Path) -> None:
    run(db, "submit", str(write_jsonl(tmp_path / "m.jsonl", MARCH)), "-e", "MINE", "-p", "2025-03")
    cp = tmp_path / "head.json"
    cp.write_bytes(run(db, "checkpoint").stdout_bytes)
    assert orjson.loads(cp.read_bytes())["position"] == count(db, "log")
    assert "ok:" in run(db, "verify", "--checkpoint", str(cp)).output
    store = open_store(db)
    with store.engine.begin() as conn:  # the attacker owns the tables: triggers off, edit, triggers on
        if store.dialect == "postgresql":
            conn.execute(sa.text("ALTER TABLE inputs DISABLE TRIGGER USER"))
            conn.execute(sa.text("UPDATE inputs SET mass_kg = 10"))
        else:
            conn.execute(sa.text("DROP TRIGGER inputs_no_update"))
            conn.execute(sa.text("UPDATE inputs SET mass_kg = 10"))
    store.dispose()
    r = run(db, "verify", ok=False)
    assert "verification FAILED at position" in r.output and "inputs row differs" in r.output


def test_registry_show_lot_and_events(db: str, tmp_path: Path) -> None:
    run(db, "submit", str(write_jsonl(tmp_path / "m.jsonl", MARCH)), "-e", "MINE", "-p", "2025-03")
    shown = orjson.loads(run(db, "registry", "show", "--json").output)
    assert {e["code"] for e in shown["enterprises"]} >= {"MINE", "SEP"}
    assert "2 groups, 6 enterprises, 6 sites, 2 quota batches" in run(db, "registry", "show").output
    lot = orjson.loads(run(db, "lot", "MINE:ORE1", "--json").output)
    assert lot["exists"] and lot["mass_kg"] == 1000 and lot["drawn_kg"] == 1000
    assert [d["event_id"] for d in lot["drawn_by"]] == ["m2"]
    assert "drawn by its holder: 1,000.0 of 1,000.0 kg" in run(db, "lot", "MINE:ORE1").output
    assert "no event mentions" in run(db, "lot", "MINE:NOPE", ok=False).output
    evs = orjson.loads(run(db, "events", "-e", "MINE", "-p", "2025-03", "--json").output)["events"]
    assert [e["event_id"] for e in evs] == ["m1", "m2"] and evs[1]["record"]["documents"] == {"waybill": "W1"}
    assert "2 events" in run(db, "events", "-e", "MINE").output


def test_init_reports_the_schema_revision(db: str) -> None:
    from reetrace.store.migrate import newest

    assert f"schema at revision {newest()}" in run(db, "init").output
