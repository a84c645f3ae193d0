"""Small files are parsed in the submitting process, big ones in forked parser processes (PostgreSQL):
both ways must give the same answer to every input — the same problems with the same line, field and
reason, the same warnings, the same records — and write the same log, byte for byte."""

from __future__ import annotations

import io
import traceback
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

import reetrace
from reetrace.errors import InputError
from reetrace.intake import parser
from reetrace.intake import submit as submit_module
from reetrace.intake.files import write_csv
from reetrace.periods import Period
from reetrace.store import Store, open_store
from tests.builders import BAYAN_OBO, load_registry
from tests.hostile import corpus
from tests.hostile.corpus import CASES, periods_from

#: REETRACE_PARSE_FORK_BYTES for each way: every file forked, no file forked.
ALWAYS_FORK, NEVER_FORK = "0", str(1 << 40)


def _outcome(store: Store, file: str, period: Period, received: datetime | str | None) -> tuple[Any, ...]:
    """What a submission answered, in a form two submissions can be compared by."""
    head = store.head()
    try:
        when = datetime.fromisoformat(received) if isinstance(received, str) else received
        r = reetrace.submit(store, file, enterprise="MINE", period=str(period), received_at=when)
    except InputError as exc:
        assert store.head() == head, "a refused file wrote something"
        return ("refused", exc.file, exc.more, [(p.line, p.field, p.reason, p.file) for p in exc.problems])
    except ValueError as exc:
        assert store.head() == head
        return ("bad argument", str(exc))
    except Exception:  # a traceback is an outcome to compare too, and it fails the test below
        return ("traceback", traceback.format_exc())
    warnings = [(w.line, w.field, w.reason, w.file) for w in r.warnings]
    return ("recorded", r.position, r.new_events, r.unchanged_events, r.lot_lines, r.digest, warnings)


def _both(
    forked: Store, in_process: Store, monkeypatch: pytest.MonkeyPatch, file: Path, period: Period,
    received: datetime | str | None, env: dict[str, str] | None = None,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:  # fmt: skip
    """The same file submitted to both stores, once through each way."""
    with monkeypatch.context() as m:
        for k, v in (env or {}).items():
            m.setenv(k, v)
        m.setenv("REETRACE_PARSE_FORK_BYTES", ALWAYS_FORK)
        a = _outcome(forked, str(file), period, received)
        m.setenv("REETRACE_PARSE_FORK_BYTES", NEVER_FORK)
        b = _outcome(in_process, str(file), period, received)
    return a, b


@pytest.fixture
def two_stores(pg_url: str, blank_pg_url: str) -> Any:
    """Two PostgreSQL stores with the same registry: one for each way of parsing."""
    stores = [open_store(pg_url), open_store(blank_pg_url)]
    try:
        for s in stores:
            load_registry(s)
        yield stores
    finally:
        for s in stores:
            s.dispose()


@pytest.mark.postgres
def test_every_hostile_input_gets_the_same_answer_parsed_in_process_or_forked(
    two_stores: list[Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked, in_process = two_stores
    periods = periods_from("2015-01")
    kinds = set()
    for n, case in enumerate(CASES):
        period = next(periods)
        corpus._TAG[0] = f"T{n}"
        suffix, data = case.build(period)
        file = tmp_path / f"case-{n}{suffix}"
        file.write_bytes(data)
        # A fixed receipt time, so that the two logs can be compared byte for byte.
        received: datetime | str = case.received_text or period.start() + timedelta(
            days=case.received_days if case.received_days is not None else 40
        )
        a, b = _both(forked, in_process, monkeypatch, file, period, received, case.env)
        assert a[0] != "traceback", f"{case.name}: {a[1]}"
        assert a == b, f"{case.name}: forked {a} != in this process {b}"
        kinds.add(a[0])
    assert kinds == {"refused", "bad argument", "recorded"}
    # Same records, same envelopes, same positions: the same chain.
    assert forked.head() == in_process.head()
    reetrace.verify(forked)
    reetrace.verify(in_process)


def _extract(n: int, period: Period, *, eid: str | None = None, kg: Any = 1000) -> dict[str, Any]:
    return {
        "event_id": eid or f"E{n}", "type": "extract", "enterprise": "MINE", "site": "BO",
        "occurred_at": f"{period}-{1 + n % 28:02d}T10:00:00+08:00",
        "outputs": [{"lot": f"L{n}", "product": "concentrate", "form": "concentrate", "mass_kg": kg,
                     "reo_pct": 50.0, "elements": BAYAN_OBO}],
    }  # fmt: skip


def _many(period: Period, bad: dict[int, dict[str, Any]], n: int = 3000) -> list[dict[str, Any]]:
    """``n`` extracts (3,000: several chunks for the parser processes), some of them replaced."""
    return [bad.get(i, _extract(i, period)) for i in range(n)]


@pytest.mark.postgres
def test_a_file_of_many_chunks_gets_the_same_lines_and_fields_both_ways(
    two_stores: list[Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Problems on lines far apart (in different chunks of the parser processes), blank lines and CRLF
    line ends, a repeated event id (a rule across records): the same report both ways; then the file
    mended is recorded the same way both ways, and once more changes nothing both ways."""
    forked, in_process = two_stores
    period = Period.parse("2025-03")
    received = datetime.fromisoformat("2025-04-05T10:00:00+08:00")
    bad = {
        4: {**_extract(4, period), "site": "NOWHERE"},
        1500: _extract(1500, period, kg="1000"),
        2200: _extract(2200, period, eid="E7"),  # the id of line 8's event
        2999: {**_extract(2999, period), "occurred_at": "2025-05-01T10:00:00+08:00"},
    }
    lines = [orjson.dumps(e) for e in _many(period, bad)]
    lines.insert(1000, b"")  # a blank line shifts every number after it
    file = tmp_path / "MINE-2025-03.jsonl"
    file.write_bytes(b"\r\n".join(lines) + b"\r\n")
    assert file.stat().st_size > 3 * parser._BLOCK  # several chunks when forked
    a, b = _both(forked, in_process, monkeypatch, file, period, received)
    assert a == b
    assert a[0] == "refused"
    where = {(line, fld) for line, fld, _, _ in a[3]}
    assert {(5, "site"), (1502, "outputs[0].mass_kg"), (3001, "occurred_at")} <= where
    assert any(line == 2202 and fld == "event_id" for line, fld in where), where

    file.write_bytes(b"\n".join(orjson.dumps(e) for e in _many(period, {})) + b"\n")
    a, b = _both(forked, in_process, monkeypatch, file, period, received)
    assert a == b
    assert a[0] == "recorded" and a[2] == 3000
    again = _both(forked, in_process, monkeypatch, file, period, received)
    assert again[0] == again[1] and again[0][1] is None  # nothing changed, both ways
    assert forked.head() == in_process.head()


@pytest.mark.postgres
def test_a_csv_file_gets_the_same_answer_both_ways(
    two_stores: list[Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked, in_process = two_stores
    period = Period.parse("2025-03")
    received = datetime.fromisoformat("2025-04-05T10:00:00+08:00")
    events = _many(
        period, {10: _extract(10, period, kg=-5), 900: {**_extract(900, period), "site": "X"}}, 1000
    )
    buf = io.StringIO()
    write_csv(events, buf)
    file = tmp_path / "MINE-2025-03.csv"
    file.write_text(buf.getvalue(), encoding="utf-8")
    a, b = _both(forked, in_process, monkeypatch, file, period, received)
    assert a == b
    assert a[0] == "refused"
    assert {(12, "mass_kg"), (902, "site")} <= {(line, fld) for line, fld, _, _ in a[3]}
    # Mended: recorded the same way both ways.
    events = _many(period, {}, 1000)
    buf = io.StringIO()
    write_csv(events, buf)
    file.write_text(buf.getvalue(), encoding="utf-8")
    a, b = _both(forked, in_process, monkeypatch, file, period, received)
    assert a == b
    assert a[0] == "recorded" and a[2] == 1000
    assert forked.head() == in_process.head()


def test_only_a_big_file_on_a_backend_that_parses_in_parallel_is_forked(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    decide = submit_module._parse_in_parser_processes
    limit = submit_module.PARSE_FORK_BYTES
    monkeypatch.delenv("REETRACE_PARSE_FORK_BYTES", raising=False)
    parallel = store.sql.parallel_ingest  # PostgreSQL: yes; SQLite: never
    assert decide(store, 0) is False
    assert decide(store, limit - 1) is False
    assert decide(store, limit) is parallel
    monkeypatch.setenv("REETRACE_PARSE_FORK_BYTES", "0")
    assert decide(store, 0) is parallel
    monkeypatch.setenv("REETRACE_PARSE_FORK_BYTES", "")
    assert decide(store, limit - 1) is False


@pytest.mark.parametrize(
    ("value", "match"),
    [("lots", "REETRACE_PARSE_FORK_BYTES='lots' is not a whole number"), ("-1", "must be 0 or more")],
)
def test_a_bad_fork_threshold_is_refused_by_name(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, match: str
) -> None:
    store = open_store(sqlite_url)
    try:
        load_registry(store)
        file = tmp_path / "MINE-2025-03.jsonl"
        file.write_bytes(orjson.dumps(_extract(1, Period.parse("2025-03"))) + b"\n")
        monkeypatch.setenv("REETRACE_PARSE_FORK_BYTES", value)
        head = store.head()
        with pytest.raises(ValueError, match=match):
            reetrace.submit(store, str(file), enterprise="MINE", period="2025-03")
        assert store.head() == head
    finally:
        store.dispose()
