"""No process, file or submitter can block the store: killed submitters leave no parser and no lock
behind, a file that is slow to read holds no lock, record errors never wait for the lock, and several
processes may open a brand-new database at once."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reetrace.errors import InputError
from reetrace.intake.submit import submit
from reetrace.store import open_store
from reetrace.store.migrate import HEAD, current
from tests.builders import BAYAN_OBO, ev, load_registry, out, write_jsonl

RECEIVED = datetime.fromisoformat("2025-04-02T10:00:00+08:00")


def extracts(n: int, prefix: str, month: str = "2025-03") -> list[dict[str, Any]]:
    return [
        ev(f"{prefix}{i}", "extract", "MINE", "BO", f"{month}-{1 + i % 28:02d}",
           outputs=[out(f"{prefix.upper()}{i}", "ore", 100 + i, reo_pct=4, elements=BAYAN_OBO)])
        for i in range(n)
    ]  # fmt: skip


def _ours(marker: str) -> list[int]:
    """Live processes whose command line names ``marker`` (a file only this test uses)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found


def _wait_gone(marker: str, tries: int = 200) -> list[int]:
    for _ in range(tries):
        left = _ours(marker)
        if not left:
            return []
        time.sleep(0.05)
    return _ours(marker)


@pytest.mark.postgres
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_submit_leaves_no_parser_and_no_lock(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(pg_url)
    load_registry(store)
    store.dispose()
    exe = Path(sys.executable).parent / "reetrace"
    rng = random.Random(7)
    for k in range(5):
        path = write_jsonl(tmp_path / f"big-{k}.jsonl", extracts(20_000, f"k{k}x"))
        proc = subprocess.Popen(
            [str(exe), "submit", str(path), "-e", "MINE", "-p", "2025-03", "-q", "--db", pg_url,
             "--received-at", "2025-04-02T10:00:00+08:00", "--historical"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.5, 4.0))  # a random moment: starting, parsing, writing or done
        proc.send_signal(signal.SIGKILL if k % 2 == 0 else signal.SIGTERM)
        proc.wait(30)
        assert _wait_gone(str(path)) == [], f"try {k}: a process of the killed submit is still alive"
    # Another submitter gets the lock at once: a lock kept alive would make it wait and fail.
    from reetrace.store import postgres

    monkeypatch.setattr(postgres, "LOCK_TIMEOUT_S", 5)
    store = open_store(pg_url)
    small = write_jsonl(tmp_path / "small.jsonl", extracts(3, "after", "2025-04"))
    r = submit(store, str(small), enterprise="MINE", period="2025-04",
               received_at=datetime.fromisoformat("2025-05-02T10:00:00+08:00"))  # fmt: skip
    assert r.new_events == 3
    store.dispose()


def _held_while_parsing(url: str, path: str, parsing: str, go: str) -> None:
    """Submit ``path``; while it is being read, say so and wait for ``go`` (bounded)."""
    store = open_store(url)
    waited = False

    def progress(n: int) -> None:
        nonlocal waited
        if not waited:
            waited = True
            Path(parsing).write_text("parsing")
            for _ in range(600):  # at most 30 s, then go on anyway
                if os.path.exists(go):
                    break
                time.sleep(0.05)

    submit(store, path, enterprise="MINE", period="2025-03", received_at=RECEIVED, progress=progress)
    store.dispose()


def test_a_file_being_read_does_not_block_another_submitter(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    load_registry(store)
    slow = write_jsonl(tmp_path / "slow.jsonl", extracts(50, "s"))
    fast = write_jsonl(tmp_path / "fast.jsonl", extracts(5, "f", "2025-04"))
    parsing, go = tmp_path / "parsing", tmp_path / "go"
    proc = mp.get_context("spawn").Process(
        target=_held_while_parsing, args=(db_url, str(slow), str(parsing), str(go))
    )
    proc.start()
    try:
        for _ in range(1200):
            if parsing.exists() or not proc.is_alive():
                break
            time.sleep(0.05)
        assert parsing.exists(), "the slow submitter never started reading"
        # The slow submitter is now stuck reading its file; this one must get through all the same.
        r = submit(store, str(fast), enterprise="MINE", period="2025-04",
                   received_at=datetime.fromisoformat("2025-05-02T10:00:00+08:00"))  # fmt: skip
        assert r.new_events == 5
    finally:
        go.write_text("go")
        proc.join(120)
    assert proc.exitcode == 0
    with store.reading() as conn:
        order = conn.execute(sa.text("SELECT period FROM submissions ORDER BY position")).scalars().all()
    assert order == ["2025-04", "2025-03"]  # the fast one committed first, though it started later
    store.dispose()


def test_record_errors_are_reported_without_the_lock(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    load_registry(store)
    evs = extracts(3, "b")
    evs[1]["outputs"][0]["mass_kg"] = -1
    bad = write_jsonl(tmp_path / "bad.jsonl", evs)
    other = open_store(db_url)
    with other.appending():  # another writer holds the lock for the whole test
        with pytest.raises(InputError) as err:
            submit(store, str(bad), enterprise="MINE", period="2025-03", received_at=RECEIVED)
        assert [(p.line, p.field) for p in err.value.problems] == [(2, "outputs[0].mass_kg")]
    other.dispose()
    store.dispose()


def _first_use(url: str, barrier: Any) -> None:
    barrier.wait(300)  # generous: eight interpreters start at once on a shared machine
    store = open_store(url)
    with store.reading() as conn:
        conn.execute(sa.text("SELECT count(*) FROM log")).scalar_one()
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nobody has opened yet (the SQLite file does not exist)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new.db'}"
    return str(request.getfixturevalue("blank_pg_url"))


def test_eight_processes_opening_a_new_database_at_once(new_db_url: str) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=_first_use, args=(new_db_url, barrier)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    assert [p.exitcode for p in procs] == [0] * 8
    store = open_store(new_db_url, migrate=False)
    assert current(store.engine) == HEAD
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    store.dispose()


def test_two_parser_processes_give_what_one_reader_gives(tmp_path: Path) -> None:
    import io

    from reetrace.intake import parser
    from reetrace.intake.files import read_events
    from reetrace.periods import Period

    per = Period.parse("2025-03")
    rules = parser.RecordRules("MINE", frozenset({"BO"}), "2025-03", per.start(), per.end())
    evs = extracts(3000, "w")
    for i in (0, 999, 1500, 2999):
        evs[i]["outputs"][0]["mass_kg"] = -i - 1
    lines = [orjson_line(e) for e in evs]
    lines[10] = b"\n"  # a blank line
    lines[2000] = b"{not json\n"
    data = b"\xef\xbb\xbf" + b"".join(lines)
    assert len(data) > 3 * parser._BLOCK  # several chunks, over both processes
    one = list(parser.prepare(read_events(io.BytesIO(data), "jsonl", "f"), rules, "f"))
    two = list(parser.prepared_in_workers(io.BytesIO(data), "f", rules, None))
    assert two == one
    assert [item[0] for item in two if len(item) == 3] == [1, 1000, 1501, 2001, 3000]


def orjson_line(e: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(e) + b"\n"
