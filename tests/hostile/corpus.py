"""A corpus of hostile inputs, and a runner that submits each through the library and through the CLI.

Every case is one file for the registered enterprise MINE (site BO, see ``tests/helpers.REGISTRY``) and
states what must happen: refused with the exact line and field (and nothing written: the log head is
unchanged), or recorded with a warning on a given field (and ``verify`` passes), or recorded as is. A
traceback anywhere is a failure. ``tests/test_hostile.py`` runs it on both backends;
``scripts/hostile_corpus.py`` prints the figures table of the README.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

import reetrace
from reetrace.cli import main
from reetrace.errors import InputError
from reetrace.intake.files import write_csv
from reetrace.periods import Period
from reetrace.store import Store
from tests.builders import BAYAN_OBO

ENT = "MINE"
CONC = {"reo_pct": 50.0, "elements": BAYAN_OBO}


@dataclass(frozen=True)
class Case:
    name: str
    #: period -> (file name suffix, content)
    build: Callable[[Period], tuple[str, bytes]]
    #: "refused", "warned" or "accepted"
    expect: str
    #: (line, field) of the expected problem or warning; for "accepted", None
    where: tuple[int, str] | None = None
    #: received_at relative to the period's start (days), for a historical load
    received_days: float | None = None
    #: a received_at given as text (refused before any line is read: line and field do not apply)
    received_text: str | None = None
    env: dict[str, str] = field(default_factory=dict)


#: A prefix for event ids and lot codes, different for every submission of the run (an accepted case
#: must not collide with the one before it).
_TAG = ["T0"]


def _tag() -> str:
    return _TAG[0]


def _at(p: Period, day: int = 2) -> str:
    return f"{p}-{day:02d}T10:00:00+08:00"


def extract(p: Period, eid: str = "e1", lot: str = "ORE1", kg: Any = 150_000, **kw: Any) -> dict[str, Any]:
    eid, lot = f"{_tag()}-{eid}", f"{_tag()}-{lot}"
    line = {"lot": lot, "product": "concentrate", "form": "concentrate", "mass_kg": kg, **CONC}
    return {"event_id": eid, "type": "extract", "enterprise": ENT, "site": "BO",
            "occurred_at": _at(p), "outputs": [line], **kw}  # fmt: skip


def jsonl(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def csv_of(*events: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    write_csv(list(events), buf)
    return buf.getvalue().encode()


def one(mutate: Callable[[dict[str, Any]], Any]) -> Callable[[Period], tuple[str, bytes]]:
    def build(p: Period) -> tuple[str, bytes]:
        ev = extract(p)
        mutate(ev)
        return ".jsonl", jsonl(ev)

    return build


def raw(suffix: str, data: bytes | Callable[[Period], bytes]) -> Callable[[Period], tuple[str, bytes]]:
    return lambda p: (suffix, data(p) if callable(data) else data)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(ev: dict[str, Any]) -> None:
        obj: Any = ev
        keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = value

    return mutate


def _csv_cell(column: str, value: str) -> Callable[[Period], bytes]:
    def build(p: Period) -> bytes:
        text = csv_of(extract(p)).decode()
        rows = list(csv.reader(io.StringIO(text)))
        rows[1][rows[0].index(column)] = value
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return buf.getvalue().encode()

    return build


def _edges(p: Period) -> bytes:
    ins = [{"lot": f"IN{i}", "mass_kg": 1} for i in range(3000)]
    outs = [{"lot": f"OUT{i}", "product": "c", "form": "concentrate", "mass_kg": 1, "reo_pct": 50}
            for i in range(3000)]  # fmt: skip
    ev = {"event_id": "big", "type": "process", "enterprise": ENT, "site": "BO", "occurred_at": _at(p),
          "process": "beneficiation", "inputs": ins, "outputs": outs}  # fmt: skip
    return jsonl(ev)


def _gzip_bomb(p: Period) -> bytes:
    # 64 MiB of blank lines compress to ~64 KB; the cap in the test environment is 1 MiB.
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        block = b" " * (1 << 20)
        for _ in range(64):
            gz.write(block)
    return buf.getvalue()


def _overdraw(p: Period) -> bytes:
    ship = {"event_id": f"{_tag()}-e2", "type": "ship", "enterprise": ENT, "site": "BO", "occurred_at": _at(p, 3),
            "counterparty": "SEP", "inputs": [{"lot": f"{_tag()}-ORE1", "mass_kg": 150_000}]}  # fmt: skip
    return jsonl(extract(p, kg=120_000), ship)


def _tonnes(p: Period) -> bytes:
    return jsonl(*(extract(p, f"e{i}", f"ORE{i}", kg=40 + i) for i in range(3)))


CASES: list[Case] = [
    # -- D1: lot codes that would not survive re-validation, or not fit a column
    Case("lot code with a newline (JSON)", one(_set("outputs.0.lot", "A\nB")), "refused", (1, "outputs[0].lot")),
    Case("lot code with a quoted CRLF (CSV)", raw(".csv", _csv_cell("lot", "A\r\nB")), "refused", (2, "lot")),
    Case("126-character bare lot code (131 as MINE:LOT)", one(_set("outputs.0.lot", "X" * 126)), "refused", (1, "outputs[0].lot")),
    Case("125-character bare lot code (130 as MINE:LOT)", one(lambda ev: ev["outputs"][0].update(lot=(_tag() + "X" * 125)[:125])), "accepted"),
    Case("131-character ENT:LOT", one(_set("outputs.0.lot", "MINE:" + "X" * 126)), "refused", (1, "outputs[0].lot")),
    Case("bare lot code NFC makes 130 characters (135 as MINE:LOT)", one(_set("outputs.0.lot", "\u0958" * 65)), "refused", (1, "outputs[0].lot")),
    Case("ENT:LOT NFC makes 131 characters", one(_set("outputs.0.lot", "MINE:" + "\u0958" * 63)), "refused", (1, "outputs[0].lot")),
    Case("NUL in a lot code", one(_set("outputs.0.lot", "A\x00B")), "refused", (1, "outputs[0].lot")),
    Case("NUL in a lot code (CSV)", raw(".csv", _csv_cell("lot", "A\x00B")), "refused", (2, "lot")),
    # -- identifiers
    Case("ANSI escape in a lot code", one(_set("outputs.0.lot", "A\x1b[31mB")), "refused", (1, "outputs[0].lot")),
    Case("zero-width joiner in a lot code", one(_set("outputs.0.lot", "OR\u200dE1")), "refused", (1, "outputs[0].lot")),
    Case("zero-width non-joiner in a lot code", one(_set("outputs.0.lot", "OR\u200cE1")), "refused", (1, "outputs[0].lot")),
    Case("zero-width space in a lot code", one(_set("outputs.0.lot", "OR\u200bE1")), "refused", (1, "outputs[0].lot")),
    Case("BOM inside a lot code", one(_set("outputs.0.lot", "ORE\ufeff1")), "refused", (1, "outputs[0].lot")),
    Case("Cyrillic С in a Latin lot code", one(_set("outputs.0.lot", "ORE-\u04211")), "refused", (1, "outputs[0].lot")),
    Case("Greek Ο in a Latin event id", one(_set("event_id", "\u039fRE-1")), "refused", (1, "event_id")),
    Case("Cyrillic in a site code", one(_set("site", "B\u041e")), "refused", (1, "site")),
    Case("newline in an event id", one(_set("event_id", "e\n1")), "refused", (1, "event_id")),
    Case("control character in a document id", one(_set("documents", {"waybill": "W\x071"})), "refused", (1, "documents.waybill")),
    Case("escape in a product name", one(_set("outputs.0.product", "conc\x1b[2J")), "refused", (1, "outputs[0].product")),
    Case("NUL in a note", one(_set("note", "a\x00b")), "refused", (1, "note")),
    Case("Han lot code with digits and hyphens", one(lambda ev: ev["outputs"][0].update(lot=f"宝钢-2025-01-{_tag()}")), "accepted"),
    Case("NFD lot code (stored as NFC)", one(lambda ev: ev["outputs"][0].update(lot=f"Lote\u0301-{_tag()}")), "accepted"),
    # -- D9: strict types
    Case("mass as a string", one(_set("outputs.0.mass_kg", "1000")), "refused", (1, "outputs[0].mass_kg")),
    Case("mass as true", one(_set("outputs.0.mass_kg", True)), "refused", (1, "outputs[0].mass_kg")),
    Case("mass 1e-300", one(_set("outputs.0.mass_kg", 1e-300)), "refused", (1, "outputs[0].mass_kg")),
    Case("mass 5e-324", one(_set("outputs.0.mass_kg", 5e-324)), "refused", (1, "outputs[0].mass_kg")),
    Case("mass 10**30", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b'"mass_kg":150000', b'"mass_kg":' + str(10**30).encode())), "refused", (1, "outputs[0].mass_kg")),
    Case("mass 1e400", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b'"mass_kg":150000', b'"mass_kg":1e400')), "refused", (1, "event")),
    Case("mass NaN", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b'"mass_kg":150000', b'"mass_kg":NaN')), "refused", (1, "event")),
    Case("mass Infinity", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b'"mass_kg":150000', b'"mass_kg":Infinity')), "refused", (1, "event")),
    Case("reo_pct as a string", one(_set("outputs.0.reo_pct", "50")), "refused", (1, "outputs[0].reo_pct")),
    Case("element share as a bool", one(_set("outputs.0.elements", {"La": True, "Ce": 99})), "refused", (1, "outputs[0].elements.La")),
    Case("duplicate key: enterprise", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b'"enterprise":"MINE"', b'"enterprise":"MINE","enterprise":"SEP"')), "refused", (1, "enterprise")),
    Case("duplicate key: nested mass_kg", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b'"mass_kg":150000', b'"mass_kg":1,"mass_kg":150000')), "refused", (1, "mass_kg")),
    Case("duplicate key after a spaced colon", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b'"enterprise":"MINE"', b'"enterprise" : "SEP","enterprise":"MINE"')), "refused", (1, "enterprise")),
    Case("duplicate key hidden by a \\u0022 escape", raw(".jsonl", lambda p: jsonl(extract(p, note='x')).replace(b'"note":"x"', b'"note":"\\u0022:","site":"BO"')), "refused", (1, "site")),
    Case("CSV mass 1_000", raw(".csv", _csv_cell("mass_kg", "1_000")), "refused", (2, "mass_kg")),
    Case("CSV mass +5", raw(".csv", _csv_cell("mass_kg", "+5")), "refused", (2, "mass_kg")),
    Case("CSV mass inf", raw(".csv", _csv_cell("mass_kg", "inf")), "refused", (2, "mass_kg")),
    Case("CSV mass nan", raw(".csv", _csv_cell("mass_kg", "nan")), "refused", (2, "mass_kg")),
    Case("CSV mass 1e999", raw(".csv", _csv_cell("mass_kg", "1e999")), "refused", (2, "mass_kg")),
    # -- wrong types and shapes
    Case("outputs as a string", one(_set("outputs", "ORE1")), "refused", (1, "outputs")),
    Case("occurred_at as a number", one(_set("occurred_at", 20250302)), "refused", (1, "occurred_at")),
    Case("inputs as an object", one(_set("inputs", {"lot": "X"})), "refused", (1, "inputs")),
    Case("a JSON array line", raw(".jsonl", b"[1, 2, 3]\n"), "refused", (1, "")),
    Case("malformed JSON", raw(".jsonl", b'{"event_id": \n'), "refused", (1, "event")),
    Case("deep nesting", raw(".jsonl", b'{"note":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"), "refused", (1, "event")),
    Case("latin-1 bytes", raw(".jsonl", lambda p: jsonl(extract(p)).replace(b"concentrate", b"caf\xe9", 1)), "refused", (1, "")),
    Case("UTF-16 with a BOM", raw(".jsonl", lambda p: "\ufeff".encode("utf-16-le") + jsonl(extract(p)).decode().encode("utf-16-le")), "refused", (1, "")),
    Case("UTF-16 CSV", raw(".csv", lambda p: csv_of(extract(p)).decode().encode("utf-16")), "refused", (1, "")),
    # -- D2: dates
    Case("occurred_at 0001-01-01T00:00:00+14:00", one(_set("occurred_at", "0001-01-01T00:00:00+14:00")), "refused", (1, "occurred_at")),
    Case("occurred_at 9999-12-31T23:59:59-12:00", one(_set("occurred_at", "9999-12-31T23:59:59-12:00")), "refused", (1, "occurred_at")),
    Case("occurred_at 2101-01-01", one(_set("occurred_at", "2101-01-01T00:00:00+00:00")), "refused", (1, "occurred_at")),
    Case("occurred_at 1999-12-31", one(_set("occurred_at", "1999-12-31T10:00:00+08:00")), "refused", (1, "occurred_at")),
    Case("occurred_at without an offset", one(_set("occurred_at", "2025-03-02T10:00:00")), "refused", (1, "occurred_at")),
    Case("received_at 9999-12-31T23:59:59-12:00", one(lambda ev: None), "refused", received_text="9999-12-31T23:59:59-12:00"),
    Case("received_at 0001-01-01T00:00:00+14:00", one(lambda ev: None), "refused", received_text="0001-01-01T00:00:00+14:00"),
    # -- D4: limits
    Case("3,000 inputs × 3,000 outputs", raw(".jsonl", _edges), "refused", (1, "inputs")),
    Case("100 documents", one(_set("documents", {f"k{i}": "v" for i in range(100)})), "refused", (1, "documents")),
    Case("a 5,000-character note", one(_set("note", "n" * 5000)), "refused", (1, "note")),
    Case("a 2 MiB line", raw(".jsonl", lambda p: jsonl(extract(p, note="n" * (2 << 20)))), "refused", (1, "")),
    Case("a 300 KiB CSV cell", raw(".csv", _csv_cell("note", "n" * (300 << 10))), "refused", (2, "")),
    Case("gzip bomb (64 MiB of blanks, cap 1 MiB)", raw(".jsonl.gz", _gzip_bomb), "refused", (1, ""),
         env={"REETRACE_MAX_DECOMPRESSED": str(1 << 20)}),
    # -- recorded, with a warning
    Case("drawing 150 t from a 120 t lot", raw(".jsonl", _overdraw), "warned", (2, "inputs[0].mass_kg")),
    Case("every mass under 100 kg (tonnes?)", raw(".jsonl", _tonnes), "warned", (1, "mass_kg")),
    Case("an unknown counterparty", raw(".jsonl", lambda p: jsonl(extract(p), {
        "event_id": f"{_tag()}-e2", "type": "ship", "enterprise": ENT, "site": "BO", "occurred_at": _at(p, 3),
        "counterparty": "GHOST", "inputs": [{"lot": f"{_tag()}-ORE1", "mass_kg": 100}]})), "warned", (2, "counterparty")),
    Case("an event after its receipt time", one(lambda ev: ev.update(occurred_at=ev["occurred_at"].replace("-02T", "-20T"))),
         "warned", (1, "occurred_at"), received_days=5),
]  # fmt: skip


@dataclass
class Outcome:
    case: str
    path: str  # "library" or "cli"
    result: str  # "refused", "warned", "accepted" or "traceback"
    ok: bool
    detail: str = ""


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_corpus(store: Store, url: str, tmp: Path, periods: Iterator[Period]) -> list[Outcome]:
    """Submit every case through the library and the CLI; check what each must do."""
    out: list[Outcome] = []
    for case in CASES:
        for path in ("library", "cli"):
            period = next(periods)
            _TAG[0] = f"T{len(out)}"
            suffix, data = case.build(period)
            file = tmp / f"case-{len(out)}{suffix}"
            file.write_bytes(data)
            received: str | None = case.received_text
            if case.received_days is not None:
                received = (period.start() + timedelta(days=case.received_days)).isoformat()
            with _env(case.env):
                if path == "library":
                    out.append(_library(store, case, str(file), period, received))
                else:
                    out.append(_cli(store, url, case, str(file), period, received))
    return out


def _library(store: Store, case: Case, file: str, period: Period, received: str | None) -> Outcome:
    head = store.head()
    try:
        when = datetime.fromisoformat(received) if received else None
        result = reetrace.submit(store, file, enterprise=ENT, period=str(period), received_at=when)
    except InputError as exc:
        found = [(p.line, p.field) for p in exc.problems]
        ok = case.expect == "refused" and case.where in found and store.head() == head
        ok = ok and all(p.file == file for p in exc.problems)
        return Outcome(case.name, "library", "refused", ok, exc.report())
    except ValueError as exc:  # a bad argument (received_at), refused before reading
        ok = case.expect == "refused" and case.received_text is not None and store.head() == head
        return Outcome(case.name, "library", "refused", ok, str(exc))
    except Exception:
        return Outcome(case.name, "library", "traceback", False, traceback.format_exc())
    reetrace.verify(store)
    warned = [(w.line, w.field) for w in result.warnings]
    kind = "warned" if warned else "accepted"
    ok = kind == case.expect and (case.where is None or case.where in warned)
    return Outcome(
        case.name, "library", kind, ok, result.message() + "".join(f"\n  {w}" for w in result.warnings)
    )


def _cli(store: Store, url: str, case: Case, file: str, period: Period, received: str | None) -> Outcome:
    head = store.head()
    args = ["submit", file, "-e", ENT, "-p", str(period), "--db", url, "--json"]
    if received:
        args += ["--received-at", received, "--historical"]
    r = CliRunner().invoke(main, args)
    if (r.exception is not None and not isinstance(r.exception, SystemExit)) or "Traceback" in r.output:
        tb = "".join(traceback.format_exception(r.exception)) if r.exception else r.output
        return Outcome(case.name, "cli", "traceback", False, tb)
    if r.exit_code != 0:
        # With --json the error is a JSON object (on stderr), else an "Error:" line.
        said = "Error:" in r.output or '"error"' in r.output
        ok = case.expect == "refused" and store.head() == head and said
        if case.where is not None:
            line, fld = case.where
            ok = ok and (f"{file}:{line}: {fld}:" if fld else f"{file}:{line}: ") in r.output
        return Outcome(case.name, "cli", "refused", ok, r.output)
    data = orjson.loads(r.output)
    warned = [(w["line"], w["field"]) for w in data["warnings"]]
    reetrace.verify(store)
    kind = "warned" if warned else "accepted"
    ok = (
        kind == case.expect
        and (case.where is None or case.where in warned)
        and data["received_at_given"] == bool(received)
    )
    return Outcome(case.name, "cli", kind, ok, r.output)


def periods_from(start: str) -> Iterator[Period]:
    p = Period.parse(start)
    while True:
        yield p
        p = p.shift(1)


def table(outcomes: list[Outcome]) -> str:
    """The README's figures table."""
    tried = len(outcomes)
    refused = sum(o.result == "refused" and o.ok for o in outcomes)
    warned = sum(o.result == "warned" and o.ok for o in outcomes)
    accepted = sum(o.result == "accepted" and o.ok for o in outcomes)
    tracebacks = sum(o.result == "traceback" for o in outcomes)
    wrong = sum(not o.ok for o in outcomes)
    return "\n".join([
        "| inputs tried | refused clearly (line and field, nothing written) | recorded with a warning | "
        "recorded as is (legitimate) | tracebacks | not as expected |",
        "|---|---|---|---|---|---|",
        f"| {tried} ({len(CASES)} cases × library and CLI) | {refused} | {warned} | {accepted} | {tracebacks} "
        f"| {wrong} |",
    ])  # fmt: skip


__all__ = ["CASES", "Case", "Outcome", "periods_from", "run_corpus", "table"]
