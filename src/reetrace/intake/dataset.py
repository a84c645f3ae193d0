"""Loading a folder of monthly files into a store.

Two kinds of folder:

- a generated dataset (``reetrace generate``): ``registry.json``, ``manifest.json``
  (``[{enterprise, period, file, received_at}]``, the order in which the submissions arrived) and the
  submission files; loaded in manifest order with the recorded times of receipt;
- any folder of ``ENT-YYYY-MM.jsonl`` / ``ENT-YYYY-MM.csv`` files (optionally ``.gz``) with the registry
  beside them (``registry.json``): loaded by period, then enterprise, received now.

Each submission goes through the same :func:`reetrace.intake.submit.submit` as any other, in its own
transaction: a failed or interrupted file leaves nothing behind, the files before it stay recorded.
**Resuming** is running the same load again: a file whose content (SHA-256 of the decompressed bytes)
is already recorded for its enterprise and period is skipped after hashing it, without parsing it.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from reetrace.errors import InputError, ReetraceError
from reetrace.intake.files import open_source
from reetrace.intake.registry import load, parse_registry
from reetrace.intake.submit import SubmissionResult, submit
from reetrace.store import Store

#: A monthly file's name: the enterprise, the period, the format, optionally gzip.
MONTHLY_FILE = re.compile(r"^(?P<enterprise>[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*?)-(?P<period>\d{4}-\d{2})"
                          r"\.(?P<format>jsonl|csv)(?:\.gz)?$")  # fmt: skip
#: Registry file names looked for beside the monthly files, in this order.
REGISTRY_NAMES = ("registry.json",)


@dataclass(frozen=True)
class Failure:
    file: str
    reason: str


@dataclass(frozen=True)
class LoadSummary:
    submissions: int
    events: int
    lot_lines: int
    late: int
    #: files in the folder (or the manifest)
    total: int = 0
    #: files skipped because the same content is already recorded (a resumed load)
    skipped: int = 0
    failed: list[Failure] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        """Files that are in the store now: recorded by this load or before it."""
        return self.submissions + self.skipped

    def message(self) -> str:
        head = f"{self.recorded} of {self.total} recorded"
        detail = (f" ({self.submissions} now: {self.events:,} new events, {self.lot_lines:,} lot lines, "
                  f"{self.late} late; {self.skipped} already recorded, skipped)")  # fmt: skip
        if not self.failed:
            return head + detail
        why = "; ".join(f"{f.file}: {f.reason}" for f in self.failed)
        return f"{head}, {len(self.failed)} failed ({why})" + detail

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "recorded": self.recorded, "submitted": self.submissions,
                "skipped": self.skipped, "events": self.events, "lot_lines": self.lot_lines,
                "late": self.late,
                "failed": [{"file": f.file, "reason": f.reason} for f in self.failed]}  # fmt: skip


def read_manifest(directory: Path) -> list[dict[str, Any]]:
    """The submissions of a folder, in load order: from ``manifest.json``, else from the file names."""
    path = directory / "manifest.json"
    if path.exists():
        entries: list[dict[str, Any]] = orjson.loads(path.read_bytes())
        return entries
    found = []
    for f in sorted(directory.iterdir()):
        m = MONTHLY_FILE.match(f.name)
        if m and f.is_file():
            found.append({"enterprise": m["enterprise"], "period": m["period"], "file": f.name,
                          "received_at": None})  # fmt: skip
    if not found:
        raise FileNotFoundError(
            f"{directory}: no manifest.json and no monthly files named ENT-YYYY-MM.jsonl or .csv "
            "(optionally .gz)"
        )
    found.sort(key=lambda e: (e["period"], e["enterprise"], e["file"]))
    return found


def registry_file(directory: Path) -> Path | None:
    for name in REGISTRY_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open_source(str(path)) as stream:
        while chunk := stream.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _recorded(store: Store, enterprise: str, period: str, digest: str) -> bool:
    q = sa.text("SELECT 1 FROM submissions WHERE enterprise = :e AND period = :p AND digest = :d")
    with store.reading() as conn:
        return conn.execute(q, {"e": enterprise, "p": period, "d": digest}).first() is not None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, InputError) and exc.problems:
        return f"{exc}: {exc.problems[0]}" + (" …" if len(exc.problems) + exc.more > 1 else "")
    if isinstance(exc, EOFError | zlib.error):
        return f"damaged gzip data: {exc}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def load_dataset(
    store: Store,
    directory: Path,
    *,
    on_submission: Callable[[SubmissionResult], None] | None = None,
    continue_on_error: bool = False,
    on_file: Callable[[str, str], None] | None = None,
) -> LoadSummary:
    """Load the registry, then every submission of the folder (idempotent: reloading adds nothing).

    Stops at the first file that fails, raising its error, unless ``continue_on_error``: then every
    failure is collected in the summary. ``on_file(name, outcome)`` is told what happened to each
    file: ``recorded``, ``unchanged``, ``skipped`` (content already recorded) or ``failed``.
    """
    entries = read_manifest(directory)
    reg = registry_file(directory)
    if reg is not None:
        load(store, parse_registry(str(reg)), source=str(reg))
    events = lines = late = n = skipped = 0
    failed: list[Failure] = []
    for entry in entries:
        path = directory / entry["file"]
        try:
            if _recorded(store, entry["enterprise"], entry["period"], _digest(path)):
                skipped += 1
                if on_file is not None:
                    on_file(entry["file"], "skipped")
                continue
            received = entry.get("received_at")
            r = submit(
                store,
                str(path),
                enterprise=entry["enterprise"],
                period=entry["period"],
                received_at=datetime.fromisoformat(received) if received else None,
            )
        except (ReetraceError, ValueError, OSError, EOFError, zlib.error) as exc:
            if not continue_on_error:
                raise
            failed.append(Failure(entry["file"], _reason(exc)))
            if on_file is not None:
                on_file(entry["file"], "failed")
            continue
        n += 1
        events += r.new_events
        lines += r.lot_lines
        late += int(r.late and not r.noop)
        if on_file is not None:
            on_file(entry["file"], "unchanged" if r.noop else "recorded")
        if on_submission is not None:
            on_submission(r)
    return LoadSummary(n, events, lines, late, len(entries), skipped, failed)
