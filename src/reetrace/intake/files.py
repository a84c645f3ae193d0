"""Files -> validated events, one at a time, each with the line it came from and every problem found.

Two formats (docs/contract/files.md): JSON Lines (one event per line) and CSV (one row per lot line;
rows of one event are consecutive and share the event's header columns). Either may be gzip-compressed
(recognised by its magic bytes, not its name). Everything streams: memory does not grow with the file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
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
from reetrace.errors import InputError, Problem
from reetrace.intake.limits import Limits
from reetrace.intake.pydantic_errors import pydantic_reason
from reetrace.messages import M_, reason_of
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
            with _maybe_gunzip(spool, "<stdin>") as stream:
                yield stream
        return
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(f"{name}: no such file")
    with path.open("rb") as fh, _maybe_gunzip(fh, name) as stream:
        yield stream


@contextmanager
def _maybe_gunzip(fh: IO[bytes], name: str) -> Iterator[IO[bytes]]:
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            yield _Capped(gz, Limits.from_env().max_decompressed, name)  # type: ignore[misc]
    else:
        yield fh


class _Capped(io.RawIOBase):
    """A decompressing stream that refuses to give more than ``cap`` bytes (a gzip bomb is a few KB
    that expands without end): past the cap, reading raises InputError naming the line reached."""

    def __init__(self, gz: gzip.GzipFile, cap: int, name: str) -> None:
        self._gz = gz
        self._name = name
        self._cap = cap
        self._total = 0
        self._lines = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            raise io.UnsupportedOperation("only a rewind to the start")
        self._total = self._lines = 0
        return self._gz.seek(0)

    def _count(self, data: bytes) -> bytes:
        self._total += len(data)
        if self._total > self._cap:
            self._lines += data.count(b"\n")
            problem = Problem(
                self._lines + 1, "",
                M_("the gzip content is over {cap:,} bytes decompressed (the limit, "
                   "REETRACE_MAX_DECOMPRESSED); split the file", cap=self._cap), self._name,
            )  # fmt: skip
            raise InputError([problem], file=self._name)
        self._lines += data.count(b"\n")
        return data

    def read(self, n: int | None = -1) -> bytes:
        if n == 0:
            return b""
        if n is None or n < 0:
            n = self._cap + 1 - self._total  # never more than one byte past the cap
        return self._count(self._gz.read(min(n, self._cap + 1 - self._total) or 1))

    def readline(self, n: int | None = -1) -> bytes:
        if n == 0:
            return b""
        if n is None or n < 0:
            n = self._cap + 1 - self._total
        return self._count(self._gz.readline(min(n, self._cap + 1 - self._total) or 1))

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


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


def message(e: Any) -> str:
    """The reason of one pydantic error, in words a reporter can act on (see
    :mod:`reetrace.intake.pydantic_errors`)."""
    return pydantic_reason(e)


#: A rule about the whole event that names the lot line it is about: ``outputs[0].lot …``.
_LINE_FIELD = re.compile(r"^(inputs|outputs)\[(\d+)\]\.?(\w*)\b")


def _event_field(loc: tuple[int | str, ...], reason: str) -> tuple[int | str, ...]:
    """The location of an error; for a rule checked on the whole event, the lot line it names."""
    if not loc:
        m = _LINE_FIELD.match(reason)
        if m:
            return (m.group(1), int(m.group(2)), *((m.group(3),) if m.group(3) else ()))
    return loc


def _problems(err: ValidationError, line: int, file: str) -> list[Problem]:
    out = []
    for e in err.errors(include_url=False):
        reason = message(e)
        out.append(Problem(line, location(_event_field(tuple(e["loc"]), reason)) or "event", reason, file))
    return out


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
_UTF16 = M_("the file is UTF-16; reetrace reads UTF-8")


def read_events(
    stream: IO[bytes],
    fmt: Format,
    file: str = "",
    encoding: str | None = None,
    limits: Limits | None = None,
) -> Iterator[Parsed]:
    """Parse and validate every record; yields each record once, valid or not, in file order.

    ``encoding`` applies to CSV (JSON Lines is UTF-8 by definition): None detects it (UTF-8, with or
    without a BOM; GB18030, what Chinese office software writes, when the start is not UTF-8).
    """
    limits = limits or Limits.from_env()
    records = _read_csv(stream, file, limits, encoding) if fmt == "csv" else _read_jsonl(stream, file, limits)
    for rec in records:
        ev = rec.event
        if ev is not None and len(ev.inputs) * len(ev.outputs) > limits.max_edges:
            n = len(ev.inputs) * len(ev.outputs)
            reason = M_(
                "{inputs} inputs × {outputs} outputs make {edges:,} lot-to-lot edges, over the limit of "
                "{limit:,} per event (REETRACE_MAX_EDGES): split the event",
                inputs=len(ev.inputs), outputs=len(ev.outputs), edges=n, limit=limits.max_edges,
            )  # fmt: skip
            outputs = tuple(o.lot for o in ev.outputs)
            yield Parsed(rec.line, None, [Problem(rec.line, "inputs", reason, file)], outputs)
        else:
            yield rec


def _bounded_lines(stream: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) of each line; ``None`` for a line over ``limit`` bytes, which is skipped
    without ever holding more than ``limit`` bytes of it."""
    n = 0
    while raw := stream.readline(limit + 1):
        n += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while chunk := stream.readline(1 << 20):
                if chunk.endswith(b"\n"):
                    break
            yield n, None
        else:
            yield n, raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise _DuplicateKey(k)
        seen[k] = v
    return seen


class _DuplicateKey(Exception):
    pass


#: White space between a key and its colon, which the cheap count below would miss.
_SPACED_COLON = re.compile(rb'"[ \t\r\n]+:')


def duplicate_key(raw: bytes, data: Any) -> str | None:
    r"""A key that appears twice in one object of ``raw`` (orjson keeps the last silently), or None.

    Cheap and sound: every key of ``raw`` ends with ``":``, and so does every key orjson kept when it
    is encoded again; a ``"`` followed by ``:`` inside a string is spelled ``\":`` in both (as long as
    ``raw`` uses no ``\u`` escape). So when neither ``\u`` nor white space before a colon occurs,
    equal counts of ``":`` prove that no key was dropped. Otherwise (a duplicate, an escape, spacing)
    the line is parsed again with a hook that sees every pair."""
    if (
        b"\\u" not in raw
        and not _SPACED_COLON.search(raw)
        and raw.count(b'":') == orjson.dumps(data).count(b'":')
    ):
        return None
    try:
        json.loads(raw, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as dup:
        return str(dup.args[0])
    return None


def _read_jsonl(stream: IO[bytes], file: str, limits: Limits) -> Iterator[Parsed]:
    for n, raw in _bounded_lines(stream, limits.max_line_bytes):
        if raw is None:
            reason = M_(
                "the line is over {limit:,} bytes (the limit, REETRACE_MAX_LINE_BYTES); one event per line",
                limit=limits.max_line_bytes,
            )
            yield Parsed(n, None, [Problem(n, "", reason, file)])
            continue
        if n == 1:
            if raw.startswith(_UTF16_BOMS):
                yield Parsed(1, None, [Problem(1, "", _UTF16, file)])
                return
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uexc:
                reason = M_("not UTF-8 (byte {byte} of the line)", byte=uexc.start + 1)
                yield Parsed(n, None, [Problem(n, "", reason, file)])
                continue
            yield Parsed(n, None, [Problem(n, "event", M_("not valid JSON: {error}", error=str(exc)), file)])
            continue
        if not isinstance(data, dict):
            yield Parsed(n, None, [Problem(n, "", M_("a line must be one JSON object"), file)])
            continue
        dup = duplicate_key(raw, data)
        if dup is not None:
            problem = Problem(n, dup, M_("the key appears twice in one object (which one counts?)"), file)
            yield Parsed(n, None, [problem], _outputs_of(data))
            continue
        try:
            yield Parsed(n, Event.model_validate(data))
        except ValidationError as exc:
            yield Parsed(n, None, _problems(exc, n, file), _outputs_of(data))


class _LineTooLong(Exception):
    pass


def _bounded_text(text: IO[str], limit: int) -> Iterator[str]:
    """Lines of a text stream for the csv reader, none over ``limit`` characters held at once."""
    while line := text.readline(limit + 1):
        if len(line) > limit and not line.endswith(("\n", "\r")):
            raise _LineTooLong
        yield line


#: A CSV number: digits with an optional point and exponent; no ``_``, no ``+``, no inf or nan.
_CSV_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


def csv_number(text: str) -> float:
    """A CSV cell as a number, strictly (ValueError with the reason)."""
    if not _CSV_NUMBER.match(text):
        raise ValueError(
            M_("{value} is not a number (digits, one point, an optional exponent)", value=repr(text))
        )
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(M_("{value} is too large", value=repr(text)))
    return value


#: Bytes looked at to detect a CSV file's encoding and delimiter.
_SNIFF_BYTES = 1 << 16
#: Delimiters a CSV file may use: ',' (RFC 4180) and what Excel writes where ',' is the decimal mark.
CSV_DELIMITERS = (",", ";", "\t")


def _detect_encoding(head: bytes) -> str:
    """UTF-8 (BOM removed) unless the start of the file is not UTF-8: then GB18030 (a superset of GBK
    and GB2312), which is what Excel and WPS write on Chinese Windows."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _detect_delimiter(header_line: str) -> str:
    """The delimiter of the header line: the candidate that splits it most (',' on a tie)."""
    counts = {d: header_line.count(d) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _read_csv(stream: IO[bytes], file: str, limits: Limits, encoding: str | None = None) -> Iterator[Parsed]:
    head = stream.read(_SNIFF_BYTES)
    if head[:2] in _UTF16_BOMS:
        yield Parsed(1, None, [Problem(1, "", _UTF16, file)])
        return
    if encoding is None:
        encoding = _detect_encoding(head)
    elif codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    what = "UTF-8" if encoding == "utf-8-sig" else encoding
    text = io.TextIOWrapper(io.BufferedReader(_Prefixed(head, stream)), encoding=encoding, newline="")
    too_long = M_(
        "the line is over {limit:,} characters (the limit, REETRACE_MAX_LINE_BYTES)",
        limit=limits.max_line_bytes,
    )
    try:
        first = head.split(b"\n", 1)[0].decode(encoding, errors="replace")
        reader = csv.reader(_bounded_text(text, limits.max_line_bytes), delimiter=_detect_delimiter(first))
        header = next(reader, None)
    except UnicodeDecodeError:
        reason = M_("not {encoding}; give --encoding (e.g. gb18030)", encoding=what)
        yield Parsed(1, None, [Problem(1, "", reason, file)])
        return
    except _LineTooLong:
        yield Parsed(1, None, [Problem(1, "", too_long, file)])
        return
    except csv.Error as exc:
        yield Parsed(1, None, [Problem(1, "", M_("bad CSV: {error}", error=str(exc)), file)])
        return
    if header is None:
        return  # an empty file is a nil report
    header = [h.strip() for h in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    missing = sorted(REQUIRED_CSV_COLUMNS - set(header))
    dup = sorted({h for h in header if header.count(h) > 1})
    if len(header) == 1 and unknown:
        merged = unknown[0]
        seps = sorted({c for c in merged if not (c.isalnum() or c in "_. ")})
        why = (
            M_("the header is one merged column: the file's delimiter is not , ; or a tab (it contains "
               "{characters}); save it from the spreadsheet as CSV",
               characters=" ".join(repr(c) for c in seps))
            if seps
            else M_("the header is one merged column: the file's delimiter is not , ; or a tab; save it from "
                    "the spreadsheet as CSV")
        )  # fmt: skip
        yield Parsed(1, None, [Problem(1, "", why, file)])
        return
    problems = [Problem(1, h, M_("unknown column"), file) for h in unknown]
    problems += [Problem(1, h, M_("required column is missing"), file) for h in missing]
    problems += [Problem(1, h, M_("column appears twice"), file) for h in dup]
    if problems:
        yield Parsed(1, None, problems)
        return

    group: list[tuple[int, dict[str, str]]] = []
    line_no = reader.line_num  # the header may span lines too
    try:
        for values in reader:
            # A quoted value may span lines: a record is named by the line it starts on.
            start, line_no = line_no + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield Parsed(
                    start, None,
                    [Problem(start, "", M_("{fields} fields, the header has {header}",
                                           fields=len(values), header=len(header)), file)],
                )  # fmt: skip
                continue
            row = {h: v.strip(" \t") for h, v in zip(header, values, strict=True)}  # the models trim the rest
            if group and row["event_id"] != group[0][1]["event_id"]:
                yield _csv_event(group, file)
                group = []
            group.append((start, row))
    except UnicodeDecodeError:
        yield Parsed(line_no + 1, None, [Problem(line_no + 1, "", M_("not {encoding}", encoding=what), file)])
        return
    except csv.Error as exc:
        reason = M_("bad CSV: {error}", error=str(exc))
        yield Parsed(line_no + 1, None, [Problem(line_no + 1, "", reason, file)])
        return
    except _LineTooLong:
        yield Parsed(line_no + 1, None, [Problem(line_no + 1, "", too_long, file)])
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
                reason = M_("differs from line {line} of the same event", line=first_line)
                problems.append(Problem(line, col, reason, file))
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
                reason = M_("{pair} is not kind=id", pair=repr(pair))
                problems.append(Problem(first_line, "documents", reason, file))
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
                    nums[col] = csv_number(row[col])
                except ValueError as exc:
                    problems.append(Problem(line, col, reason_of(exc), file))
        if role == "in":
            where[("inputs", len(inputs))] = line
            inputs.append({"lot": row.get("lot", ""), "mass_kg": nums.get("mass_kg")})
            if row.get("from"):
                reason = M_("from belongs on an out row (a receive output)")
                problems.append(Problem(line, "from", reason, file))
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
                problems.append(Problem(line, "role", M_("empty role in an event with several rows"), file))
        else:
            problems.append(Problem(line, "role", M_("{role}: use in or out", role=repr(role)), file))
    data["inputs"] = inputs
    data["outputs"] = outputs
    outputs_seen = _outputs_of(data)
    try:
        event = Event.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            loc = _event_field(tuple(e["loc"]), message(e))
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
