"""Submission files: one per enterprise per month, streamed to disk in small buffers.

Events arrive in time order across all enterprises; each enterprise's share is buffered and appended to
its file once the buffer is large, so memory stays bounded however large the month is.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Literal

import orjson

Fmt = Literal["jsonl", "csv"]
#: Bytes (JSONL) or events (CSV) an enterprise may have waiting before they are appended to its file.
FLUSH_BYTES = 256 * 1024
FLUSH_EVENTS = 500
CsvWriter = Callable[[Iterable[dict[str, Any]], IO[str]], None]


def csv_writer() -> CsvWriter:
    """The CSV writer of :mod:`reetrace.intake.files`, the one definition of the CSV layout.

    Imported on demand: JSON Lines output does not need the models behind it.
    """
    from reetrace.intake.files import write_csv

    return write_csv


class SubmissionWriter:
    """Writes ``submissions/YYYY-MM/<ENT>.<fmt>`` and counts what it wrote."""

    def __init__(self, outdir: Path, fmt: Fmt) -> None:
        self.outdir = outdir
        self.fmt = fmt
        self._csv = csv_writer() if fmt == "csv" else None
        self.events = 0
        self.lot_lines = 0
        self.edges = 0
        self.files = 0
        self._dir = outdir
        self._rel = ""
        self._bytes: dict[str, bytearray] = {}
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._started: set[str] = set()

    def open_month(self, period: str) -> None:
        self._rel = f"submissions/{period}"
        self._dir = self.outdir / self._rel
        self._dir.mkdir(parents=True, exist_ok=True)
        self._started = set()

    def path(self, ent: str) -> str:
        """The file of ``ent`` for the open month, relative to the output directory."""
        return f"{self._rel}/{ent}.{self.fmt}"

    def write(self, data: dict[str, Any]) -> None:
        ent = data["enterprise"]
        n_in, n_out = len(data.get("inputs", ())), len(data.get("outputs", ()))
        self.events += 1
        self.lot_lines += n_in + n_out
        # A receive pairs each output with one input; other events blend every input into every output.
        self.edges += n_out if data["type"] == "receive" else n_in * n_out
        if self._csv is None:
            buf = self._bytes.setdefault(ent, bytearray())
            buf += orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
            if len(buf) >= FLUSH_BYTES:
                self._flush(ent)
        else:
            rows = self._rows.setdefault(ent, [])
            rows.append(data)
            if len(rows) >= FLUSH_EVENTS:
                self._flush(ent)

    def close_month(self, enterprises: Iterable[str], skip: Iterable[str] = ()) -> list[str]:
        """Flush everything; give every other enterprise an empty file (a nil report).

        ``skip`` names enterprises whose report is missing: no file at all.
        Returns the enterprises that have a file, in the order given.
        """
        for ent in list(self._bytes) + list(self._rows):
            self._flush(ent)
        skipped = list(skip)
        written: list[str] = []
        for ent in enterprises:
            if ent in skipped:
                continue
            if ent not in self._started:
                (self.outdir / self.path(ent)).write_bytes(b"")
                self._started.add(ent)
            written.append(ent)
        self.files += len(written)
        return written

    def _flush(self, ent: str) -> None:
        target = self.outdir / self.path(ent)
        if self._csv is None:
            buf = self._bytes.pop(ent, None)
            if buf:
                # The first write of the month truncates: a rerun into the same directory overwrites.
                with target.open("ab" if ent in self._started else "wb") as fh:
                    fh.write(buf)
                self._started.add(ent)
            return
        rows = self._rows.pop(ent, None)
        if not rows:
            return
        text = io.StringIO()
        self._csv(rows, text)
        out = text.getvalue()
        if ent in self._started:
            # write_csv writes its header on every call; a continued file has it already.
            out = out.split("\n", 1)[1]
        mode = "a" if ent in self._started else "w"
        with target.open(mode, encoding="utf-8", newline="") as fh:
            fh.write(out)
        self._started.add(ent)
