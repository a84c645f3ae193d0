"""Per-record work of a submission: validation, the submission's own record rules, the canonical
encoding and its digest — in this process, or in a forked parser process.

This is phase 1 of a submission (see :mod:`reetrace.intake.submit`): it runs before the store's write
lock is taken and before the write connection is opened. On PostgreSQL the parser runs in a forked child
so that pydantic validation uses the second core while this process spools what it sends.

The parser process must never outlive the submitting process, nor keep anything of it alive: a parser
left behind under PID 1 holding a copy of the database socket kept the session, and with it the lock on
``log``, alive for every other submitter (D3). So the child, first thing:

- asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux), and checks that
  the parent did not die before it asked;
- watches multiprocessing's parent sentinel (a pipe whose write end only the parent holds) from a thread
  and leaves when it reads EOF: the portable fallback, and it also covers a parent that dies while the
  child is stuck inside one long record;
- closes every inherited descriptor it does not need (database sockets, other children's pipes), so that
  even while it lives it holds no database session and no other process's lifeline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from reetrace.errors import Problem
from reetrace.intake.files import Format, Parsed, read_events
from reetrace.messages import M_
from reetrace.models import Event
from reetrace.store.chain import digest


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
                Problem(
                    line,
                    "enterprise",
                    M_("{got}: this submission is {ent}'s", got=ev.enterprise, ent=self.enterprise),
                    file,
                )
            ]
        out = []
        if ev.site is not None and ev.site not in self.own_sites:
            out.append(
                Problem(
                    line,
                    "site",
                    M_("{site} is not a registered site of {ent}", site=ev.site, ent=self.enterprise),
                    file,
                )
            )
        if not (self.period_start <= ev.occurred_at < self.period_end):
            reason = M_(
                "{time} is outside the period {period} (Asia/Shanghai)",
                time=ev.occurred_at.isoformat(), period=str(self.period),
            )  # fmt: skip
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
        record = ev.canonical_bytes()
        yield (rec.line, ev.event_id, record, digest(record))


#: Records per message from the parser process.
_CHUNK = 500


#: prctl option: the signal this process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> None:
    """SIGKILL this process when its parent dies (Linux only; elsewhere the sentinel watch covers it)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here: a file parsed in this process never needs it

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch_parent(sentinel: int) -> None:
    """Leave as soon as the parent's end of the sentinel pipe is closed (the parent died)."""
    try:
        while os.read(sentinel, 1):
            pass
    except OSError:
        pass
    os._exit(1)


def _open_descriptors() -> list[int]:
    try:
        return [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))


def _close_inherited(keep: set[int]) -> None:
    """Close every descriptor inherited from the parent except ``keep`` (and stdin, stdout, stderr)."""
    for fd in _open_descriptors():
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _detach_from_parent(parent: int, keep: set[int]) -> None:
    """First thing in the parser process: die with the parent, hold nothing of it."""
    # Objects inherited from the parent (its connections among them) must never be finalised here:
    # their descriptors are closed below and the numbers may be reused.
    gc.freeze()
    _set_parent_death_signal()
    if os.getppid() != parent:  # the parent died before we asked to die with it
        os._exit(1)
    import multiprocessing as mp

    sentinel = getattr(mp.parent_process(), "sentinel", None)
    if sentinel is not None:
        keep = keep | {sentinel}
        threading.Thread(target=_watch_parent, args=(sentinel,), daemon=True).start()
    _close_inherited(keep)


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def _parse_worker(
    stream: Any,
    fmt: Format,
    file: str,
    rules: RecordRules,
    send: Any,
    parent: int,
    encoding: str | None = None,
) -> None:
    """The parser process: read, validate, encode; send chunks (with bytes read) down the pipe."""
    keep = {send.fileno()}
    fd = _fileno(stream)
    if fd is not None:
        keep.add(fd)
    _detach_from_parent(parent, keep)
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
        with contextlib.suppress(OSError):
            send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        with contextlib.suppress(OSError):
            send.close()
        os._exit(0)  # nothing inherited from the parent runs its clean-up here


def prepared_in_worker(
    stream: Any,
    fmt: Format,
    file: str,
    rules: RecordRules,
    progress: Callable[[int], None] | None,
    encoding: str | None = None,
) -> Iterator[Prepared | Rejected]:
    """Parse in a forked child so that validation (pydantic) runs on the second core while this process
    spools the results. Called before the write connection is opened and before any writer thread
    exists; the child closes every inherited descriptor (database sockets included), dies with this
    process and leaves through ``os._exit``."""
    import multiprocessing as mp  # here: a file parsed in-process never loads it (start-up time)

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    args = (stream, fmt, file, rules, send, os.getpid(), encoding)
    proc = ctx.Process(target=_parse_worker, args=args, daemon=True)
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


# -- JSON Lines on two cores -------------------------------------------------------------------------

#: Bytes of a file per chunk handed to a parser process (whole lines, at least one).
_BLOCK = 1 << 18


def _line_chunks(stream: Any, progress: Callable[[int], None] | None) -> Iterator[tuple[int, bytes]]:
    """(number of the chunk's first line, whole lines) of a JSON Lines stream, in file order."""
    line = 1
    rest = b""
    while True:
        block = stream.read(_BLOCK)
        if progress is not None and block:
            progress(len(block))
        if not block:
            if rest:
                yield line, rest
            return
        data = rest + block
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no line end yet: keep reading (a limit on line length belongs to the reader)
            rest = data
            continue
        yield line, data[:cut]
        line += data.count(b"\n", 0, cut)
        rest = data[cut:]


def _prepare_chunk(first: int, data: bytes, rules: RecordRules, file: str) -> list[Prepared | Rejected]:
    """Per-record work on lines ``first``, ``first + 1``, … of a file, numbered as in the file."""
    if first == 1:
        records = read_events(io.BytesIO(data), "jsonl", file)
        return list(prepare(records, rules, file))
    return list(prepare(_shifted(first, data, file), rules, file))


def _shifted(first: int, data: bytes, file: str) -> Iterator[Parsed]:
    """The records of a chunk that is not the file's start, numbered as in the file.

    One at a time: holding a chunk's validated events until all were read kept a thousand models alive
    at once and cost about a third more CPU than the same records read in one stream (measured; the
    cause was not pinned down further).
    """
    # A blank line in front keeps the reader's first-line rules (BOM, UTF-16) to the file's first line.
    shift = first - 2
    for rec in read_events(io.BytesIO(b"\n" + data), "jsonl", file):
        rec.line += shift
        if rec.problems:
            rec.problems = [dataclasses.replace(p, line=p.line + shift) for p in rec.problems]
        yield rec


def _chunk_worker(conn: Any, file: str, rules: RecordRules, parent: int) -> None:
    """A parser process of :func:`prepared_in_workers`: chunks in, prepared records out."""
    _detach_from_parent(parent, {conn.fileno()})
    try:
        while True:
            try:
                msg = conn.recv()
            except EOFError:
                break
            if msg is None:
                break
            first, data = msg
            try:
                conn.send(_prepare_chunk(first, data, rules, file))
            except Exception as exc:  # the parent raises it; a traceback here would be lost
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        with contextlib.suppress(OSError):
            conn.close()
        os._exit(0)


def prepared_in_workers(
    stream: Any, file: str, rules: RecordRules, progress: Callable[[int], None] | None, workers: int = 2
) -> Iterator[Prepared | Rejected]:
    """JSON Lines parsed by ``workers`` forked processes over successive chunks of whole lines, in file
    order, with the lines numbered as in the file. This process only reads and hands out chunks, so the
    per-record work (pydantic validation, canonical encoding) gets every core. Same rules for the
    children as :func:`prepared_in_worker`."""
    head = stream.read(2)
    stream.seek(0)
    if head in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: the reader says so once, for the whole file
        yield from prepare(read_events(stream, "jsonl", file), rules, file)
        return
    import multiprocessing as mp  # here: a file parsed in-process never loads it (start-up time)

    ctx = mp.get_context("fork")
    pipes = []
    procs = []
    try:
        for _ in range(workers):
            mine, theirs = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=_chunk_worker, args=(theirs, file, rules, os.getpid()), daemon=True)
            proc.start()
            theirs.close()
            pipes.append(mine)
            procs.append(proc)
        chunks = _line_chunks(stream, progress)
        # One chunk at a time per process: a second one queued behind a result that fills the pipe
        # would deadlock both sides.
        busy: list[int] = []  # process index of each chunk in flight, in file order
        k = 0
        for k in range(workers):
            chunk = next(chunks, None)
            if chunk is None:
                break
            pipes[k].send(chunk)
            busy.append(k)
        while busy:
            k = busy.pop(0)
            try:
                result = pipes[k].recv()
            except EOFError:
                raise RuntimeError("a parser process ended without finishing") from None
            if isinstance(result, tuple):
                raise RuntimeError(f"a parser process failed: {result[1]}")
            chunk = next(chunks, None)
            if chunk is not None:
                pipes[k].send(chunk)
                busy.append(k)
            yield from result
    finally:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.close()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join()


__all__ = [
    "Counting",
    "Prepared",
    "RecordRules",
    "Rejected",
    "prepare",
    "prepared_in_worker",
    "prepared_in_workers",
]
