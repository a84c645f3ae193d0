"""``reetrace audit``, ``quota report`` and ``submissions status`` through CliRunner."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from reetrace.cli import main
from reetrace.store import open_store
from tests.builders import MARCH_RECEIVED, clean_chain, ev, inp, setup, submit_events


def run(db: str, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(main, [*args, "--db", db], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> str:
    """The clean chain of March 2025 plus one over-draw of MAG's magnets (exported twice)."""
    store = open_store(db_url)
    try:
        setup(store)
        clean_chain(store, tmp_path)
        submit_events(store, tmp_path, "MAG", "2025-03", [
            ev("g4", "export", "MAG", "MAG-P", "2025-03-13",
               destination={"country": "US", "customs_entry": "X2"}, inputs=[inp("MG1", 500)]),
        ], received_at=MARCH_RECEIVED)  # fmt: skip
    finally:
        store.dispose()
    return db_url


def test_audit_json(db: str) -> None:
    data = orjson.loads(run(db, "audit", "--as-of", "2025-06-01", "--json").stdout)
    assert [(f["rule"], f["enterprise"], f["lots"], f["event_ids"]) for f in data["findings"]] == [
        ("overdrawn_lot", "MAG", ["MAG:MG1"], ["g2", "g3", "g4"])
    ]
    assert data["findings"][0]["detail"]["excess_kg"] == 500
    assert set(data["timings_s"]) == set(data["counts"]) and len(data["counts"]) == 10


def test_audit_tolerance_and_rule_options(db: str) -> None:
    args = ["audit", "--as-of", "2025-06-01", "--json", "--rule", "overdrawn_lot"]
    loose = orjson.loads(run(db, *args, "--tolerance", "overdraw=0.5").stdout)
    assert loose["findings"] == [] and loose["tolerances"]["overdraw"] == 0.5
    assert list(loose["timings_s"]) == ["overdrawn_lot"]
    bad = run(db, *args, "--tolerance", "overdrive=1", code=1)
    assert "unknown tolerance 'overdrive'" in bad.output


def test_audit_csv_and_table(db: str) -> None:
    rows = list(csv.DictReader(io.StringIO(run(db, "audit", "--as-of", "2025-06-01", "--csv").stdout)))
    assert [(r["rule"], r["lots"], r["event_ids"]) for r in rows] == [
        ("overdrawn_lot", "MAG:MG1", "g2 g3 g4")
    ]
    assert orjson.loads(rows[0]["detail"])["drawn_kg"] > 0
    table = run(db, "audit", "--as-of", "2025-06-01", "--enterprise", "MINE").stdout
    assert "0 finding(s)" in table and "overdrawn_lot" in table  # the per-rule summary
    assert "1 finding(s)" in run(db, "audit", "--as-of", "2025-06-01").stdout


def test_audit_bad_period(db: str) -> None:
    assert "not YYYY-MM" in run(db, "audit", "--from", "2025-13", code=2).output  # a usage error


def test_quota_report(db: str) -> None:
    data = orjson.loads(run(db, "quota", "report", "--year", "2025", "--json").stdout)
    rows = {r["holder"]: r for r in data["rows"]}
    assert rows["CNRE"]["mining_quota_t"] == 100 and rows["CNRE"]["mining_use_t"] == 5
    assert rows["CNRE"]["separation_use_t"] == 5 and rows["CNRE"]["separation_imported_t"] == 0
    assert rows["SEP"]["kind"] == "enterprise" and rows["SEP"]["group"] == "CNRE"
    assert "CNRE" in run(db, "quota", "report", "--year", "2025").stdout


def test_submissions_status(db: str) -> None:
    args = ["submissions", "status", "--period", "2025-03", "--json"]
    rows = orjson.loads(run(db, *args, "--as-of", "2025-04-11").stdout)["rows"]
    status = {r["enterprise"]: (r["status"], r["active"]) for r in rows}
    assert status["MINE"] == ("on_time", True) and status["MAG"] == ("on_time", True)
    assert status["IMP"] == ("missing", False)
    early = orjson.loads(run(db, *args, "--as-of", "2025-04-10").stdout)["rows"]
    assert {r["enterprise"]: r["status"] for r in early}["IMP"] == "not_due"
    assert "on_time" in run(db, "submissions", "status", "--period", "2025-03").stdout


@pytest.mark.parametrize("cmd", [["audit"], ["quota", "report"], ["submissions", "status"]])
def test_help_has_an_example(cmd: list[str]) -> None:
    result = CliRunner().invoke(main, [*cmd, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output
