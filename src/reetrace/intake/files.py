"""Files -> validated events, one at a time, each with the line it came from and every problem found.

Two formats (docs/contract/files.md): JSON Lines (one event per line) and CSV (one row per lot line;
rows of one event are consecutive and share the event's header columns). Either may be gzip-compressed
(recognised by its magic bytes, not its name). Everything streams: memory does not grow with the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reetrace.elements import ELEMENTS
from reetrace.errors import Problem
from reetrace.models import Event, EventType, Form

Format = Literal["jsonl", "csv"]

#: CSV columns in file order: the event's header columns, then the lot line, then element shares.
HEADER_COLUMNS: tuple[str, ...] = (
    "event_id", "type", "enterprise", "site", "occurred_at", "counterparty", "process", "reason",
    "retracts", "origin_customs_entry", "origin_country", "origin_hs_code", "destination_country",
    "destination_customs_entry", "documents", "note",
)  # fmt: skip
LINE_COLUMNS: tuple[str, ...] = (
    "role", "lot", "from", "product", "form", "mass_kg", "reo_pct", "re_metal_pct",
)  # fmt: skip
CSV_COLUMNS: tuple[str, ...] = HEADER_COLUMNS + LINE_COLUMNS + ELEMENTS
REQUIRED_CSV_COLUMNS = frozenset({"event_id", "type", "enterprise", "occurred_at", "role", "lot", "mass_kg"})
_NUMERIC = frozenset({"mass_kg", "reo_pct", "re_metal_pct", *ELEMENTS})


class CsvRow(BaseModel):
    """One CSV row: an event's header columns and one of its lot lines (the schema of the CSV format).

    ``documents`` is ``kind=id`` pairs separated by ``;``. ``role`` is ``in`` or ``out``, or empty for
    an event without lot lines (a retract). ``from`` is the source input of a ``receive`` output (an
    optional column: files written before it existed still read). Element columns hold percent of the
    RE content.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: str
    type: EventType
    enterprise: str
    site: str | None = None
    occurred_at: str
    counterparty: str | None = None
    process: str | None = None
    reason: str | None = None
    retracts: str | None = None
    origin_customs_entry: str | None = None
    origin_country: str | None = None
    origin_hs_code: str | None = None
    destination_country: str | None = None
    destination_customs_entry: str | None = None
    documents: str | None = None
    note: str | None = None
    role: Literal["in", "out", ""]
    lot: str | None = None
    from_: str | None = Field(default=None, alias="from")
    product: str | None = None
    form: Form | None = None
    mass_kg: float | None = None
    reo_pct: float | None = None
    re_metal_pct: float | None = None
    La: float | None = None
    Ce: float | None = None
    Pr: float | None = None
    Nd: float | None = None
    Pm: float | None = None
    Sm: float | None = None
    Eu: float | None = None
    Gd: float | None = None
    Tb: float | None = None
    Dy: float | None = None
    Ho: float | None = None
    Er: float | None = None
    Tm: float | None = None
    Yb: float | None = None
    Lu: float | None = None
    Y: float | None = None
    Sc: float | None = None


@dataclass
class Parsed:
    """One record of a file: its event if valid, else the problems (and output lots if readable)."""

    line: int
    event: Event | None
    problems: list[Problem] = field(default_factory=list)
    outputs_seen: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Opening


def detect_format(name: str, fmt: str | None) -> Format:
    if fmt:
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"unknown format {fmt!r}: use jsonl or csv")
        return fmt  # type: ignore[return-value]
    base = name.lower().removesuffix(".gz").removesuffix(".gzip")
    if base.endswith(".csv"):
        return "csv"
    if base.endswith((".jsonl", ".ndjson", ".json")) or name == "-":
        return "jsonl"
    raise ValueError(f"{name}: cannot tell the format from the name; give --format jsonl or csv")


@contextmanager
def open_source(name: str) -> Iterator[IO[bytes]]:
    """A binary stream of the (decompressed) content; ``-`` is standard input, spooled to disk so that
    the content can be hashed and read in one pass without holding it in memory."""
    if name == "-":
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            spool.seek(0)
            with _maybe_gunzip(spool) as stream:
                yield stream
        return
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(f"{name}: no such file")
    with path.open("rb") as fh, _maybe_gunzip(fh) as stream:
        yield stream


@contextmanager
def _maybe_gunzip(fh: IO[bytes]) -> Iterator[IO[bytes]]:
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            yield gz  # type: ignore[misc]
    else:
        yield fh


# --------------------------------------------------------------------------------------------------
# Problems from pydantic


def location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself is wrong": the key is named already
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


#: Friendlier words for errors whose pydantic message shows a regular expression.
_PATTERN_MESSAGES = {
    "lot": "a lot is LOT (your own) or ENT:LOT, both parts non-empty, no space in ENT",
    "enterprise": "an enterprise code has no colon or white space",
    "counterparty": "an enterprise code has no colon or white space",
    "hs_code": "an HS code is digits like 2530.90.20",
}


def message(e: Any) -> str:
    """The reason of one pydantic error, in words a reporter can act on."""
    if e["type"] == "string_pattern_mismatch" and e["loc"] and e["loc"][-1] in _PATTERN_MESSAGES:
        return f"{_PATTERN_MESSAGES[e['loc'][-1]]} (got {e['input']!r})"
    return str(e["msg"]).removeprefix("Value error, ")


def _problems(err: ValidationError, line: int, file: str) -> list[Problem]:
    return [
        Problem(line, location(tuple(e["loc"])) or "event", message(e), file)
        for e in err.errors(include_url=False)
    ]


def _outputs_of(data: Any) -> tuple[str, ...]:
    try:
        ent = data["enterprise"]
        lots = []
        for o in data.get("outputs") or ():
            lot = o["lot"]
            lots.append(lot if ":" in lot else f"{ent}:{lot}")
        return tuple(lots)
    except (KeyError, TypeError):
        return ()


# --------------------------------------------------------------------------------------------------
# Reading


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_events(stream: IO[bytes], fmt: Format, file: str = "") -> Iterator[Parsed]:
    """Parse and validate every record; yields each record once, valid or not, in file order."""
    if fmt == "csv":
        yield from _read_csv(stream, file)
    else:
        yield from _read_jsonl(stream, file)


def _read_jsonl(stream: IO[bytes], file: str) -> Iterator[Parsed]:
    for n, raw in enumerate(stream, start=1):
        if n == 1:
            if raw.startswith(_UTF16_BOMS):
                yield Parsed(1, None, [Problem(1, "", "the file is UTF-16; reetrace reads UTF-8", file)])
                return
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Parsed(n, None, [Problem(n, "", f"not UTF-8 (byte {exc.start + 1} of the line)", file)])
            continue
        try:
            yield Parsed(n, Event.model_validate_json(raw))
        except ValidationError as exc:
            outputs: tuple[str, ...] = ()
            try:
                data = orjson.loads(raw)
                if not isinstance(data, dict):
                    problems = [Problem(n, "", "a line must be one JSON object", file)]
                    yield Parsed(n, None, problems)
                    continue
                outputs = _outputs_of(data)
            except orjson.JSONDecodeError:
                pass
            yield Parsed(n, None, _problems(exc, n, file), outputs)


def _read_csv(stream: IO[bytes], file: str) -> Iterator[Parsed]:
    head = stream.read(2)
    if head in _UTF16_BOMS:
        yield Parsed(1, None, [Problem(1, "", "the file is UTF-16; reetrace reads UTF-8", file)])
        return
    text = io.TextIOWrapper(io.BufferedReader(_Prefixed(head, stream)), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except UnicodeDecodeError:
        yield Parsed(1, None, [Problem(1, "", "not UTF-8", file)])
        return
    if header is None:
        return  # an empty file is a nil report
    header = [h.strip() for h in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    missing = sorted(REQUIRED_CSV_COLUMNS - set(header))
    dup = sorted({h for h in header if header.count(h) > 1})
    problems = [Problem(1, h, "unknown column", file) for h in unknown]
    problems += [Problem(1, h, "required column is missing", file) for h in missing]
    problems += [Problem(1, h, "column appears twice", file) for h in dup]
    if problems:
        yield Parsed(1, None, problems)
        return

    group: list[tuple[int, dict[str, str]]] = []
    line_no = 1
    try:
        for values in reader:
            line_no = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield Parsed(
                    line_no, None,
                    [Problem(line_no, "", f"{len(values)} fields, the header has {len(header)}", file)],
                )  # fmt: skip
                continue
            row = {h: v.strip(" \t") for h, v in zip(header, values, strict=True)}  # the models trim the rest
            if group and row["event_id"] != group[0][1]["event_id"]:
                yield _csv_event(group, file)
                group = []
            group.append((line_no, row))
    except UnicodeDecodeError:
        yield Parsed(line_no + 1, None, [Problem(line_no + 1, "", "not UTF-8", file)])
        return
    except csv.Error as exc:
        yield Parsed(line_no + 1, None, [Problem(line_no + 1, "", f"bad CSV: {exc}", file)])
        return
    if group:
        yield _csv_event(group, file)


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read put back in front (so we can sniff the BOM of stdin/gzip)."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def _csv_event(group: list[tuple[int, dict[str, str]]], file: str) -> Parsed:
    first_line, first = group[0]
    problems: list[Problem] = []
    for line, row in group[1:]:
        for col in HEADER_COLUMNS:
            if col in row and row[col] != first.get(col, ""):
                problems.append(Problem(line, col, f"differs from line {first_line} of the same event", file))
    data: dict[str, Any] = {}
    for col in ("event_id", "type", "enterprise", "site", "occurred_at", "counterparty", "process",
                "reason", "retracts", "note"):  # fmt: skip
        if first.get(col):
            data[col] = first[col]
    if first.get("origin_customs_entry") or first.get("origin_country") or first.get("origin_hs_code"):
        data["origin"] = {
            "customs_entry": first.get("origin_customs_entry", ""),
            "country": first.get("origin_country", ""),
            "hs_code": first.get("origin_hs_code", ""),
        }
    if first.get("destination_country") or first.get("destination_customs_entry"):
        data["destination"] = {
            "country": first.get("destination_country", ""),
            "customs_entry": first.get("destination_customs_entry", ""),
        }
    if first.get("documents"):
        docs: dict[str, str] = {}
        for pair in first["documents"].split(";"):
            k, sep, v = pair.partition("=")
            if not sep or not k.strip() or not v.strip():
                problems.append(Problem(first_line, "documents", f"{pair!r} is not kind=id", file))
            else:
                docs[k.strip()] = v.strip()
        data["documents"] = docs
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    where: dict[tuple[str, int], int] = {}  # ("inputs", i) -> line
    for line, row in group:
        role = row.get("role", "")
        nums: dict[str, float] = {}
        for col in _NUMERIC:
            if row.get(col):
                try:
                    nums[col] = float(row[col])
                except ValueError:
                    problems.append(Problem(line, col, f"{row[col]!r} is not a number", file))
        if role == "in":
            where[("inputs", len(inputs))] = line
            inputs.append({"lot": row.get("lot", ""), "mass_kg": nums.get("mass_kg")})
            if row.get("from"):
                problems.append(Problem(line, "from", "from belongs on an out row (a receive output)", file))
        elif role == "out":
            where[("outputs", len(outputs))] = line
            out: dict[str, Any] = {
                "lot": row.get("lot", ""),
                "product": row.get("product", ""),
                "form": row.get("form", ""),
                "mass_kg": nums.get("mass_kg"),
            }
            if row.get("from"):
                out["from"] = row["from"]
            for col in ("reo_pct", "re_metal_pct"):
                if col in nums:
                    out[col] = nums[col]
            els = {el: nums[el] for el in ELEMENTS if el in nums}
            if els:
                out["elements"] = els
            outputs.append(out)
        elif role == "":
            if len(group) > 1:
                problems.append(Problem(line, "role", "empty role in an event with several rows", file))
        else:
            problems.append(Problem(line, "role", f"{role!r}: use in or out", file))
    data["inputs"] = inputs
    data["outputs"] = outputs
    outputs_seen = _outputs_of(data)
    try:
        event = Event.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            loc = e["loc"]
            line = first_line
            fld = location(tuple(loc)) or "event"
            if len(loc) >= 2 and (loc[0], loc[1]) in where:
                line = where[(str(loc[0]), int(loc[1]))]
                fld = location(tuple(loc[2:])) or str(loc[0])
            elif loc and loc[0] in ("origin", "destination") and len(loc) > 1:
                fld = f"{loc[0]}_{loc[1]}"
            problems.append(Problem(line, fld, message(e), file))
        return Parsed(first_line, None, problems, outputs_seen)
    if problems:
        return Parsed(first_line, None, problems, outputs_seen)
    return Parsed(first_line, event)


# --------------------------------------------------------------------------------------------------
# Writing CSV


def write_csv(events: Iterable[dict[str, Any]], fh: IO[str]) -> None:
    """Write events (JSON-like dicts in the JSON Lines structure) as CSV rows."""
    w = csv.writer(fh)  # RFC 4180 line ends: a CR or LF inside a value gets quoted
    w.writerow(CSV_COLUMNS)
    for ev in events:
        origin = ev.get("origin") or {}
        dest = ev.get("destination") or {}
        docs = ev.get("documents") or {}
        head = [
            ev.get("event_id", ""), ev.get("type", ""), ev.get("enterprise", ""), ev.get("site") or "",
            ev.get("occurred_at", ""), ev.get("counterparty") or "", ev.get("process") or "",
            ev.get("reason") or "", ev.get("retracts") or "", origin.get("customs_entry", ""),
            origin.get("country", ""), origin.get("hs_code", ""), dest.get("country", ""),
            dest.get("customs_entry", ""), ";".join(f"{k}={v}" for k, v in docs.items()),
            ev.get("note") or "",
        ]  # fmt: skip
        rows = 0
        for line in ev.get("inputs") or ():
            w.writerow([*head, "in", line["lot"], "", "", "", _num(line["mass_kg"]), "", "",
                        *([""] * len(ELEMENTS))])  # fmt: skip
            rows += 1
        for line in ev.get("outputs") or ():
            els = line.get("elements") or {}
            w.writerow([*head, "out", line["lot"], line.get("from") or "", line.get("product", ""),
                        line.get("form", ""),
                        _num(line["mass_kg"]), _num(line.get("reo_pct")),
                        _num(line.get("re_metal_pct")), *(_num(els.get(el)) for el in ELEMENTS)])  # fmt: skip
            rows += 1
        if not rows:
            w.writerow([*head, *([""] * len(LINE_COLUMNS)), *([""] * len(ELEMENTS))])


def _num(v: float | None) -> str:
    return "" if v is None else repr(float(v)) if not float(v).is_integer() else str(int(v))
