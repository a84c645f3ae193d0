"""Only a historical load may state the receipt time, and what it stated shows wherever receipt
time matters (on both backends)."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from reetrace.cli import main
from reetrace.store import Store
from tests.builders import BAYAN_OBO, audit, ev, out, setup, write_jsonl

MARCH = [
    ev("m1", "extract", "MINE", "BO", "2025-03-02",
       outputs=[out("ORE1", "concentrate", 150_000, reo_pct=50, elements=BAYAN_OBO)]),
]  # fmt: skip


def test_received_at_needs_historical(db_url: str, tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "m.jsonl", MARCH)
    args = ["submit", str(f), "-e", "MINE", "-p", "2025-03", "--db", db_url]
    r = CliRunner().invoke(main, [*args, "--received-at", "2025-04-20T09:00:00+08:00"])
    assert r.exit_code == 2 and "only a historical load" in r.output and "--historical" in r.output
    r = CliRunner().invoke(main, [*args, "--received-at", "9999-12-31T23:59:59-12:00", "--historical"])
    assert r.exit_code == 2 and "--received-at" in r.output and "out of range" in r.output  # a bad option
    r = CliRunner().invoke(main, [*args, "--received-at", "2500-01-01T00:00:00+08:00", "--historical"])
    assert r.exit_code == 1 and "--received-at: 2500-01-01T00:00:00+08:00 is after 2100-12-31" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_a_given_receipt_time_is_shown(store: Store, db_url: str, tmp_path: Path) -> None:
    setup(store)
    f = write_jsonl(tmp_path / "m.jsonl", MARCH)
    args = ["submit", str(f), "-e", "MINE", "-p", "2025-03", "--db", db_url]
    r = CliRunner().invoke(main, [*args, "--received-at", "2025-04-20T09:00:00+08:00", "--historical"])
    assert r.exit_code == 0, r.output
    assert "LATE, received_at given as 2025-04-20T09:00:00+08:00" in r.output
    r = CliRunner().invoke(main, ["submissions", "status", "--period", "2025-03", "--json", "--db", db_url])
    [row] = [x for x in orjson.loads(r.output)["rows"] if x["enterprise"] == "MINE"]
    assert (row["status"], row["received_at_given"]) == ("late", True)
    r = CliRunner().invoke(main, ["submissions", "status", "--period", "2025-03", "--db", db_url])
    assert "(given)" in r.output
    [late] = [f for f in audit(store, "reporting") if f.detail.get("kind") == "late"]
    assert late.detail["received_at_given"] is True
    assert late.summary.endswith("(receipt time given by a historical load)")


def test_epcis_import_states_a_receipt_time_only_as_a_historical_load(db_url: str, tmp_path: Path) -> None:
    doc = tmp_path / "doc.jsonld"
    doc.write_text('{"type": "EPCISDocument"}', encoding="utf-8")
    args = ["epcis", "import", str(doc), "-e", "MINE", "-p", "2025-03", "--db", db_url]
    r = CliRunner().invoke(main, [*args, "--received-at", "2025-04-20T09:00:00+08:00"])
    assert r.exit_code == 2 and "only a historical load" in r.output and "--historical" in r.output
