"""Per-record work of a submission: validation, the submission's own record rules, the canonical
encoding and its digest — in this process, or in a forked parser process that feeds the writer.

On PostgreSQL the parser runs in a child process so that pydantic validation uses the second core while
the submitting process assigns positions, links the chain and streams rows by COPY.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from reetrace.errors import Problem
from reetrace.intake.files import Format, Parsed, read_events
from reetrace.models import Event
from reetrace.store.chain import canonical, digest


class Counting:
    """Wraps a binary stream to report bytes read to a progress callback."""

    def __init__(self, stream: IO[bytes], progress: Callable[[int], None]) -> None:
        self._s = stream
        self._p = progress
        self.total = 0

    def __iter__(self) -> Counting:
        return self

    def __next__(self) -> bytes:
        line = self._s.readline()
        if not line:
            raise StopIteration
        self.total += len(line)
        self._p(len(line))
        return line

    def read(self, n: int = -1) -> bytes:
        data = self._s.read(n)
        self.total += len(data)
        self._p(len(data))
        return data

    def readline(self, n: int = -1) -> bytes:
        data = self._s.readline(n)
        self.total += len(data)
        self._p(len(data))
        return data


@dataclass(frozen=True)
class RecordRules:
    """The rules about one record that depend on the submission (who reports, which month)."""

    enterprise: str
    own_sites: frozenset[str]
    period: str
    period_start: datetime
    period_end: datetime

    def problems(self, line: int, ev: Event, file: str) -> list[Problem]:
        if ev.enterprise != self.enterprise:
            # Its site and lots would only repeat the same mistake: one problem is enough.
            return [
                Problem(line, "enterprise", f"{ev.enterprise}: this submission is {self.enterprise}'s", file)
            ]
        out = []
        if ev.site is not None and ev.site not in self.own_sites:
            out.append(
                Problem(line, "site", f"{ev.site} is not a registered site of {self.enterprise}", file)
            )
        if not (self.period_start <= ev.occurred_at < self.period_end):
            reason = f"{ev.occurred_at.isoformat()} is outside the period {self.period} (Asia/Shanghai)"
            out.append(Problem(line, "occurred_at", reason, file))
        return out


#: A record ready to append: (line, event_id, canonical record bytes, content digest).
Prepared = tuple[int, str, bytes, str]
#: A record refused on its own: (line, problems, output lots it named).
Rejected = tuple[int, list[Problem], tuple[str, ...]]


def prepare(records: Iterable[Parsed], rules: RecordRules, file: str) -> Iterator[Prepared | Rejected]:
    """Per-record work: validation (done by the reader), the submission's record rules, the canonical
    encoding and its digest. Runs in a parser process on PostgreSQL (see ``prepared_in_worker``)."""
    for rec in records:
        ev = rec.event
        if ev is None:
            yield (rec.line, rec.problems, rec.outputs_seen)
            continue
        problems = rules.problems(rec.line, ev, file)
        if problems:
            yield (rec.line, problems, ())
            continue
        record = canonical(ev.canonical())
        yield (rec.line, ev.event_id, record, digest(record))


#: Records per message from the parser process.
_CHUNK = 500


def _parse_worker(
    stream: Any, fmt: Format, file: str, rules: RecordRules, send: Any, encoding: str | None = None
) -> None:
    """The parser process: read, validate, encode; send chunks (with bytes read) down the pipe."""
    counted = Counting(stream, lambda n: None)
    chunk: list[Prepared | Rejected] = []
    try:
        for item in prepare(read_events(counted, fmt, file, encoding), rules, file):  # type: ignore[arg-type]
            chunk.append(item)
            if len(chunk) >= _CHUNK:
                send.send((counted.total, chunk))
                chunk = []
        send.send((counted.total, chunk))
        send.send(None)
    except BaseException as exc:  # the parent raises it; a traceback here would be lost
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def prepared_in_worker(
    stream: Any,
    fmt: Format,
    file: str,
    rules: RecordRules,
    progress: Callable[[int], None] | None,
    encoding: str | None = None,
) -> Iterator[Prepared | Rejected]:
    """Parse in a forked child so that validation (pydantic) runs on the second core while this process
    assigns positions, links the chain and feeds COPY. Forked before any writer thread exists; the
    child leaves through ``os._exit`` (multiprocessing's fork start), so it never touches the
    inherited database connection."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_parse_worker, args=(stream, fmt, file, rules, send, encoding), daemon=True)
    proc.start()
    send.close()
    seen = 0
    try:
        while True:
            try:
                msg = recv.recv()
            except EOFError:
                raise RuntimeError("the parser process ended without finishing") from None
            if msg is None:
                break
            if msg[0] == "error":
                raise RuntimeError(f"the parser process failed: {msg[1]}")
            total, chunk = msg
            if progress is not None:
                progress(total - seen)
            seen = total
            yield from chunk
    finally:
        recv.close()
        if proc.is_alive():
            proc.terminate()
        proc.join()


__all__ = ["Counting", "Prepared", "RecordRules", "Rejected", "prepare", "prepared_in_worker"]
