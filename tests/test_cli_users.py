"""The command line as its users meet it: stores that must exist, finding lots, loading folders, exit
codes, clear errors instead of tracebacks, output that survives pipes, spreadsheets and odd identifiers."""

from __future__ import annotations

import csv
import gzip
import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from reetrace.cli import main
from reetrace.intake.files import write_csv
from reetrace.store import open_store
from reetrace.store.schema import SEARCH_INDEXES
from tests.builders import BAYAN_OBO, REGISTRY, ev, inp, out, write_jsonl

REETRACE = str(Path(sys.executable).parent / "reetrace")
ON_TIME = ["--received-at", "2025-04-03T09:00:00+08:00", "--historical"]
#: An identifier longer than a terminal line, with Rich markup in it.
LONG = "X[/]" + "L" * 90 + "[link=evil]"
MARCH = [
    ev('=HYPERLINK("http://x")', "extract", "MINE", "BO", "2025-03-02",
       outputs=[out("ORE-2503-A", "concentrate", 1000, reo_pct=50, elements=BAYAN_OBO),
                out(LONG, "concentrate", 10, reo_pct=50, elements=BAYAN_OBO)]),
    ev("m2", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP", inputs=[inp("ORE-2503-A", 1000)],
       documents={"waybill": "WB-77-Q"}),
    ev(LONG, "ship", "MINE", "BO", "2025-03-04", counterparty="SEP",
       inputs=[inp(LONG, 25)]),  # more than the lot holds: an overdrawn_lot finding
]  # fmt: skip
IMPORTS = [
    ev("i1", "import", "IMP", "PORT", "2025-03-04",
       origin={"customs_entry": "530420250311001", "country": "MM", "hs_code": "2846.90"},
       outputs=[out("MM-ION-0311", "mixed_compound", 500, reo_pct=92)]),
]  # fmt: skip


def invoke(db: str | None, *args: str, code: int | None = 0, input: bytes | None = None) -> Any:
    argv = [*args, *(["--db", db] if db is not None else [])]
    result = CliRunner().invoke(main, argv, input=input, catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.output)
    return result


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> str:
    reg = tmp_path / "registry.json"
    reg.write_bytes(orjson.dumps(REGISTRY))
    invoke(db_url, "registry", "load", str(reg))
    invoke(db_url, "submit", str(write_jsonl(tmp_path / "MINE-2025-03.jsonl", MARCH)),
           "-e", "MINE", "-p", "2025-03", *ON_TIME)  # fmt: skip
    invoke(db_url, "submit", str(write_jsonl(tmp_path / "IMP-2025-03.jsonl", IMPORTS)),
           "-e", "IMP", "-p", "2025-03", *ON_TIME)  # fmt: skip
    return db_url


# -- a store must exist ------------------------------------------------------------------------------

READ_COMMANDS = [
    ["audit"], ["lot", "A:B"], ["events", "-e", "MINE"], ["trace", "A:B"], ["verify"], ["checkpoint"],
    ["registry", "show"], ["lots", "x"], ["quota", "report", "--year", "2025"],
    ["submissions", "status", "--period", "2025-03"],
]  # fmt: skip


@pytest.mark.parametrize("cmd", READ_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_read_commands_refuse_a_missing_sqlite_store(tmp_path: Path, cmd: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    r = invoke(url, *cmd, code=1)
    assert "no reetrace store at" in r.output
    assert not (tmp_path / "typo.db").exists()


def test_read_commands_refuse_a_database_without_the_schema(blank_db_url: str) -> None:
    if blank_db_url.startswith("sqlite"):  # an existing SQLite file that is not a reetrace store
        import sqlite3

        sqlite3.connect(blank_db_url.removeprefix("sqlite:///")).close()
    for cmd in READ_COMMANDS:
        r = invoke(blank_db_url, *cmd, code=1)
        assert "no reetrace store at" in r.output, cmd
    assert "schema at revision" in invoke(blank_db_url, "init").output
    assert "0 finding(s)" in invoke(blank_db_url, "audit").output


def test_empty_and_in_memory_urls_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "empty database URL" in invoke("", "init", code=1).output
    for url in ("sqlite://", "sqlite:///:memory:"):
        assert "in-memory SQLite database" in invoke(url, "init", code=1).output
    assert list(tmp_path.iterdir()) == []


# -- finding a lot ----------------------------------------------------------------------------------


def test_lots_search(db: str) -> None:
    def lots(*args: str) -> list[str]:
        got = orjson.loads(invoke(db, "lots", *args, "--json").stdout)
        assert got["format"] == "reetrace-cli/1"
        return [h["lot"] for h in got["lots"]]

    assert lots("mine:ore-25") == ["MINE:ORE-2503-A"]
    assert lots("ore-2503") == ["MINE:ORE-2503-A"]  # without ENT:
    assert lots("wb-77-q") == ["MINE:ORE-2503-A"]  # the waybill of the ship that drew it
    assert lots("530420250311001") == ["IMP:MM-ION-0311"]  # the customs entry
    assert lots("-e", "IMP") == ["IMP:MM-ION-0311"]
    assert lots("--form", "mixed_compound") == ["IMP:MM-ION-0311"]
    assert lots("-p", "2025-04") == []
    assert len(lots("-p", "2025-03")) == 3
    page = orjson.loads(invoke(db, "lots", "--limit", "2", "--json").stdout)
    assert len(page["lots"]) == 2 and page["more"] is True
    rest = orjson.loads(invoke(db, "lots", "--limit", "2", "--offset", "2", "--json").stdout)
    assert len(rest["lots"]) == 1 and rest["more"] is False
    assert {h["lot"] for h in page["lots"] + rest["lots"]} == {
        "IMP:MM-ION-0311", "MINE:ORE-2503-A", f"MINE:{LONG}"
    }  # fmt: skip
    assert "ORE-2503-A" in invoke(db, "lots", "ore").stdout


def test_near_misses_suggest_the_closest_codes(db: str) -> None:
    for cmd in (["trace", "MINE:ORE-2530-A"], ["lot", "MINE:ORE-2530-A"]):
        r = invoke(db, *cmd, code=1)
        assert "did you mean MINE:ORE-2503-A?" in r.output, r.output


def test_search_is_answered_from_the_prefix_index(db: str) -> None:
    from reetrace.store.dialect import dialect_of

    store = open_store(db)
    try:
        with store.reading() as conn:
            sql = dialect_of(conn)
            if store.dialect == "postgresql":
                conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: force the planner's hand
                explain = "EXPLAIN "
            else:
                explain = "EXPLAIN QUERY PLAN "
            q = f"{explain}SELECT lot FROM lots l WHERE {sql.prefix_match('l.lot', 'p')}"
            plan = " ".join(str(r) for r in conn.execute(sa.text(q), sql.prefix_params("p", "mine:o")))
    finally:
        store.dispose()
    assert SEARCH_INDEXES[store.dialect] in plan, plan


# -- loading a folder -------------------------------------------------------------------------------


def test_load_a_plain_folder_continue_on_error_then_resume(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "registry.json").write_bytes(orjson.dumps(REGISTRY))
    write_jsonl(folder / "MINE-2025-03.jsonl", MARCH)
    (folder / "IMP-2025-03.jsonl.gz").write_bytes(gzip.compress(orjson.dumps(IMPORTS[0]) + b"\n"))
    broken = dict(IMPORTS[0], event_id="i2", outputs=[out("X", "oxide", -5)])
    write_jsonl(folder / "IMP-2025-04.jsonl", [broken])
    (folder / "notes.txt").write_text("not a monthly file")

    r = invoke(db_url, "load", str(folder), code=1)  # stops at the broken file
    assert "IMP-2025-04.jsonl" in r.output
    r = invoke(db_url, "load", str(folder), "--continue-on-error", code=1)
    assert "2 of 3 recorded, 1 failed (IMP-2025-04.jsonl: " in r.output
    assert "2 already recorded, skipped" in r.output  # the first run recorded them: no parsing again
    got = orjson.loads(invoke(db_url, "load", str(folder), "--continue-on-error", "--json", code=1).stdout)
    assert got["recorded"] == 2 and got["total"] == 3 and got["failed"][0]["file"] == "IMP-2025-04.jsonl"


def test_load_still_reads_a_generated_dataset(sqlite_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    invoke(None, "generate", str(data), "--scale", "0.05", "--months", "1")
    r = invoke(sqlite_url, "load", str(data))
    n = len(orjson.loads((data / "manifest.json").read_bytes()))
    assert f"{n} of {n} recorded" in r.output


def test_ctrl_c_exits_130_and_writes_nothing_of_the_current_file(sqlite_url: str, tmp_path: Path) -> None:
    invoke(sqlite_url, "init")
    fifo = tmp_path / "registry.json"
    os.mkfifo(fifo)
    # A shell that starts commands in the background has them ignore SIGINT, and Python keeps an
    # ignored SIGINT ignored: give the child the default disposition, as a terminal would.
    proc = subprocess.Popen([REETRACE, "registry", "load", str(fifo), "--db", sqlite_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    with fifo.open("wb") as w:  # returns once the command has opened the file: it is reading it now
        w.write(orjson.dumps(REGISTRY)[:50])
        w.flush()
        # Bounded retries: a SIGINT that lands while the child is still starting up can be lost.
        err = b""
        for _ in range(60):
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=2)
                break
            except subprocess.TimeoutExpired:
                continue
    assert proc.returncode == 130, err
    assert b"stopped; nothing of the current file was written" in err
    assert b"Traceback" not in err
    assert "registry unchanged (0 records identical)" not in invoke(sqlite_url, "registry", "show").output
    assert "0 groups, 0 enterprises" in invoke(sqlite_url, "registry", "show").output


# -- exit codes and clear errors --------------------------------------------------------------------


def test_usage_errors_exit_2(db: str) -> None:
    f = "MINE-2025-03.jsonl"
    assert invoke(db, "submit", f, "-e", "MINE", "-p", "2025-3", code=2)
    assert invoke(
        db, "submit", f, "-e", "MINE", "-p", "2025-03", "--received-at", "yesterday", "--historical", code=2
    )
    r = invoke(db, "audit", "--as-of", "9999-12-31T23:59:59-12:00", code=2)
    assert "out of range" in r.output and "Traceback" not in r.output
    assert "not YYYY-MM" in invoke(db, "events", "-e", "MINE", "-p", "March", code=2).output


def test_audit_fail_on(db: str) -> None:
    invoke(db, "audit", "--as-of", "2025-05-01", "--enterprise", "IMP", "--fail-on", "low", code=0)
    r = invoke(db, "audit", "--as-of", "2025-05-01", "--json", code=0)
    severities = {f["severity"] for f in orjson.loads(r.stdout)["findings"]}
    assert severities, "the fixture's month has findings (the shipped lots are never received)"
    worst = min(severities, key=("high", "medium", "low").index)
    r = invoke(db, "audit", "--as-of", "2025-05-01", "--fail-on", worst, code=1)
    assert f"of severity {worst} or higher" in r.output


def test_events_of_an_unknown_enterprise(db: str) -> None:
    assert "NOPE is an unknown enterprise" in invoke(db, "events", "-e", "NOPE", code=1).output


def test_damaged_gzip_is_a_clear_error(db: str, tmp_path: Path) -> None:
    good = gzip.compress(orjson.dumps(IMPORTS[0]) + b"\n")
    cases = {
        "truncated": good[: len(good) // 2],
        "bad-crc": good[:-8] + b"\0\0\0\0" + good[-4:],
        "trailing": good + b"garbage!",
    }
    for name, data in cases.items():
        f = tmp_path / f"IMP-{name}.jsonl.gz"
        f.write_bytes(data)
        r = invoke(db, "submit", str(f), "-e", "IMP", "-p", "2025-04", code=1)
        assert "gzip" in r.output and "Aborted" not in r.output and "Traceback" not in r.output, name


def test_output_files_are_written_safely(db: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "trace.json"
    link.symlink_to(victim)
    r = invoke(db, "trace", "MINE:ORE-2503-A", "--json", "-o", str(link), code=1)
    assert "symbolic link" in r.output and victim.read_text() == "keep me"
    target = tmp_path / "t.dot"
    invoke(db, "trace", "MINE:ORE-2503-A", "--format", "dot", "-o", str(target))
    assert target.read_text().startswith(("digraph", "strict"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".t.dot")] == []
    if Path("/dev/full").exists():
        r = invoke(db, "trace", "MINE:ORE-2503-A", "--format", "dot", "-o", "/dev/full", code=1)
        assert "cannot write /dev/full" in r.output


def test_sqlite_disk_full_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    import resource

    reg = tmp_path / "registry.json"
    reg.write_bytes(orjson.dumps(REGISTRY))
    invoke(sqlite_url, "registry", "load", str(reg))
    many = [ev(f"x{i}", "extract", "MINE", "BO", "2025-03-02",
               outputs=[out(f"ORE-{i:05d}", "ore", 10, reo_pct=4)]) for i in range(4000)]  # fmt: skip
    f = write_jsonl(tmp_path / "big.jsonl", many)
    size = sum(p.stat().st_size for p in tmp_path.glob("reetrace.db*"))

    def small_disk() -> None:  # a real "disk full": files may not grow past this size
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64 * 1024, size + 64 * 1024))

    proc = subprocess.run(
        [REETRACE, "submit", str(f), "-e", "MINE", "-p", "2025-03",
         "--db", sqlite_url], capture_output=True, text=True, preexec_fn=small_disk,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    # The spool of the file being read, or the database, is what hits the limit first.
    assert any(m in proc.stderr for m in ("database error: disk I/O error", "disk is full", "File too large"))


# -- output -----------------------------------------------------------------------------------------

TABLE_COMMANDS = [
    ["events", "-e", "MINE"], ["lot", f"MINE:{LONG}"], ["trace", f"MINE:{LONG}"],
    ["trace", f"MINE:{LONG}", "--forward"], ["audit", "--as-of", "2025-05-01"], ["lots", "mine:"],
]  # fmt: skip


@pytest.mark.parametrize("cmd", TABLE_COMMANDS, ids=lambda c: "-".join(c[:2])[:20])
def test_piped_tables_show_full_identifiers_and_no_markup(db: str, cmd: list[str]) -> None:
    r = invoke(db, *cmd)  # CliRunner's output is not a terminal
    assert LONG in r.stdout, r.stdout


def test_every_command_speaks_json(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = tmp_path / "registry.json"
    commands = [
        ["registry", "load", str(reg)], ["registry", "show"], ["submit", "MINE-2025-03.jsonl", "-e",
        "MINE", "-p", "2025-03", *ON_TIME], ["lot", "MINE:ORE-2503-A"], ["events", "-e", "MINE"],
        ["lots", "ore"], ["trace", "MINE:ORE-2503-A"], ["trace", "MINE:ORE-2503-A", "--forward"],
        ["audit", "--as-of", "2025-05-01"], ["quota", "report", "--year", "2025"],
        ["submissions", "status", "--period", "2025-03"], ["verify"], ["checkpoint"], ["init"],
        ["load", str(tmp_path)],
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for cmd in commands:
        r = invoke(db, *cmd, "--json")
        assert isinstance(orjson.loads(r.stdout), dict), cmd
    gen = CliRunner().invoke(main, ["generate", "gen", "--scale", "0.02", "--months", "1", "--json"])
    assert orjson.loads(gen.stdout)["events"] > 0
    for cmd, code in ((["lot", "MINE:NOPE"], 1), (["events", "-e", "NOPE"], 1),
                      (["audit", "--from", "2025-13"], 2), (["submit", "broken.jsonl", "-e", "MINE",
                       "-p", "2025-03"], 1)):  # fmt: skip
        write_jsonl(tmp_path / "broken.jsonl", [dict(MARCH[0], outputs=[out("Z", "ore", -1)])])
        r = invoke(db, *cmd, "--json", code=code)
        err = orjson.loads(r.stderr)
        assert err["error"] and isinstance(err["problems"], list), cmd
    err = orjson.loads(invoke(db, "submit", "broken.jsonl", "-e", "MINE", "-p", "2025-03", "--json",
                              code=1).stderr)  # fmt: skip
    assert err["problems"] and "outputs[0].mass_kg" in err["problems"][0]


def test_json_times_use_one_offset(db: str) -> None:
    lot = orjson.loads(invoke(db, "lot", "MINE:ORE-2503-A", "--json").stdout)
    times = [lot["created_by"][0]["occurred_at"], lot["drawn_by"][0]["occurred_at"]]
    assert all(t.endswith("+08:00") for t in times), times
    sub = orjson.loads(invoke(db, "submissions", "status", "--period", "2025-03", "--json").stdout)
    assert all(r["received_at"].endswith("+08:00") for r in sub["rows"] if r["received_at"])


def test_audit_csv_neutralises_formulas(db: str) -> None:
    r = invoke(db, "audit", "--as-of", "2025-05-01", "--csv")
    cells = [c for row in csv.reader(io.StringIO(r.stdout)) for c in row]
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert any(c.startswith("'=HYPERLINK") for c in cells), cells


def test_data_csv_keeps_values_exactly(tmp_path: Path) -> None:
    buf = io.StringIO()
    write_csv([MARCH[0]], buf)  # a data file for `submit`: it must round-trip, no quote added
    assert '"=HYPERLINK(""http://x"")"' in buf.getvalue() or "=HYPERLINK" in buf.getvalue()
    assert "'=HYPERLINK" not in buf.getvalue()


def test_the_chain_does_not_depend_on_where_the_file_was(tmp_path: Path) -> None:
    heads = []
    for n, where in enumerate(("a", ("b" * 200) + "/" + ("c" * 200))):  # also a long path
        folder = tmp_path / where
        folder.mkdir(parents=True)
        url = f"sqlite:///{tmp_path / f'{n}.db'}"
        reg = folder / "registry.json"
        reg.write_bytes(orjson.dumps(REGISTRY))
        invoke(url, "registry", "load", str(reg))
        f = write_jsonl(folder / "IMP-2025-03.jsonl", IMPORTS)
        invoke(url, "submit", str(f), "-e", "IMP", "-p", "2025-03", *ON_TIME)
        heads.append(orjson.loads(invoke(url, "checkpoint").stdout)["hash"])
    assert heads[0] == heads[1]


def test_long_source_path_on_every_backend(db: str, tmp_path: Path) -> None:
    folder = tmp_path / ("d" * 240) / ("e" * 240)
    folder.mkdir(parents=True)
    again = dict(IMPORTS[0], event_id="i9", outputs=[out("MM-ION-0399", "mixed_compound", 5, reo_pct=92)])
    f = write_jsonl(folder / "IMP-2025-03.jsonl", [again])
    assert len(str(f)) > 500
    invoke(db, "submit", str(f), "-e", "IMP", "-p", "2025-03", *ON_TIME)


# -- CSV from spreadsheets --------------------------------------------------------------------------


def _csv_text(events: list[dict[str, Any]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    write_csv(events, buf)
    if delimiter == ",":
        return buf.getvalue()
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    out_buf = io.StringIO()
    csv.writer(out_buf, delimiter=delimiter).writerows(rows)
    return out_buf.getvalue()


def test_csv_from_excel(db: str, tmp_path: Path) -> None:
    april = [ev("a1", "extract", "MINE", "BO", "2025-04-02",
                outputs=[out("ORE-2504", "ore", 10, product="稀土原矿", reo_pct=4)])]  # fmt: skip
    semi = tmp_path / "semi.csv"
    semi.write_bytes(_csv_text(april, ";").encode("utf-8-sig"))
    assert "recorded 1 events" in invoke(db, "submit", str(semi), "-e", "MINE", "-p", "2025-04").output
    may = [dict(april[0], event_id="b1", occurred_at="2025-05-02T10:00:00+08:00",
                outputs=[out("ORE-2505", "ore", 10, product="稀土原矿", reo_pct=4)])]  # fmt: skip
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(_csv_text(may).encode("gb18030"))
    assert "recorded 1 events" in invoke(db, "submit", str(gbk), "-e", "MINE", "-p", "2025-05").output
    lot = orjson.loads(invoke(db, "lot", "MINE:ORE-2505", "--json").stdout)
    assert lot["created_by"][0]["product"] == "稀土原矿"
    june = [dict(may[0], event_id="c1", occurred_at="2025-06-02T10:00:00+08:00",
                 outputs=[out("ORE-2506", "ore", 10, product="稀土原矿", reo_pct=4)])]  # fmt: skip
    named = tmp_path / "named.csv"
    named.write_bytes(_csv_text(june).encode("gbk"))
    r = invoke(db, "submit", str(named), "-e", "MINE", "-p", "2025-06", "--encoding", "gbk")
    assert "recorded 1 events" in r.output
    piped = tmp_path / "piped.csv"
    piped.write_text(_csv_text(june, "|"))
    r = invoke(db, "submit", str(piped), "-e", "MINE", "-p", "2025-06", code=1)
    assert "one merged column" in r.output and "'|'" in r.output


# -- the registry -----------------------------------------------------------------------------------


def test_registry_references_and_reload_changes(db: str, tmp_path: Path) -> None:
    bad = {
        "enterprises": [{"code": "NEW", "name": "New", "group": "NOGROUP", "roles": ["trading"],
                         "approved": False}],
        "sites": [{"code": "S1", "enterprise": "NEW", "kind": "plant"},
                  {"code": "S2", "enterprise": "NOPE", "kind": "plant"}],
        "quotas": [{"year": 2025, "batch": 2, "holder": "GHOST", "category": "mining", "tonnes_reo": 1}],
    }  # fmt: skip
    f = tmp_path / "bad.json"
    f.write_bytes(orjson.dumps(bad))
    r = invoke(db, "registry", "load", str(f), code=1)
    assert "enterprises[0].group: NOGROUP is not a group of the registry" in r.output
    assert "sites[1].enterprise: NOPE is not an enterprise of the registry" in r.output
    assert "quotas[0].holder: GHOST is not a group or enterprise of the registry" in r.output
    assert "sites[0]" not in r.output  # NEW is in the same file
    changed = {"sites": [{"code": "BO", "enterprise": "MINE", "kind": "mine", "licence": "C2"}],
               "enterprises": [{"code": "MINE", "name": "Bayan Obo Mining Co.", "group": "CNRE",
                                "province": "Inner Mongolia", "roles": ["mining"], "approved": True}]}  # fmt: skip
    f.write_bytes(orjson.dumps(changed))
    r = invoke(db, "registry", "load", str(f))
    assert "1 enterprises changed (MINE)" in r.output and "1 sites changed (BO)" in r.output
    got = orjson.loads(invoke(db, "registry", "load", str(f), "--json").stdout)
    assert got["sites"] == {"added": 0, "changed": 0, "unchanged": 1, "changed_codes": []}


# -- the same on both backends ----------------------------------------------------------------------


@pytest.mark.postgres
def test_same_store_same_bytes_on_both_backends(sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    outputs = []
    for n, url in enumerate((sqlite_url, pg_url)):
        folder = tmp_path / f"copy{n}"  # a different path each time: the chain must not see it
        folder.mkdir()
        reg = folder / "registry.json"
        reg.write_bytes(orjson.dumps(REGISTRY))
        invoke(url, "registry", "load", str(reg))
        for ent, evs in (("MINE", MARCH), ("IMP", IMPORTS)):
            f = write_jsonl(folder / f"{ent}-2025-03.jsonl", evs)
            invoke(url, "submit", str(f), "-e", ent, "-p", "2025-03", *ON_TIME)
        outputs.append(
            [
                invoke(url, "checkpoint").stdout,
                invoke(url, "trace", "MINE:ORE-2503-A", "--forward", "--json", "--no-findings").stdout,
                invoke(url, "trace", f"MINE:{LONG}", "--json", "--no-findings").stdout,
                invoke(url, "lots", "--json").stdout,
            ]
        )
    assert outputs[0] == outputs[1]


@pytest.mark.postgres
def test_postgres_refusals_are_one_line(pg_url: str, tmp_path: Path) -> None:
    invoke(pg_url, "init")
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the server now refuses every write
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    reg = tmp_path / "registry.json"
    reg.write_bytes(orjson.dumps(REGISTRY))
    r = invoke(pg_url, "registry", "load", str(reg), code=1)
    assert "read-only transaction" in r.output and "Traceback" not in r.output
