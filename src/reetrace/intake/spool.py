"""Phase 1 of a submission: the prepared records on disk, the record-level problems in hand.

Everything about a file that needs no other record — reading, validation, the submission's own record
rules, the canonical encoding and its digest — is done before the store's write lock is taken. The
prepared records go to an anonymous temporary file in chunks (memory stays flat whatever the file size)
and are read back in order under the lock by the writer (phase 2).
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator

from reetrace.errors import Problem
from reetrace.intake.parser import Prepared, Rejected

#: Prepared records per pickled chunk.
CHUNK = 2000
#: Problems kept for the report; the rest are counted (the same cap as the writer's).
MAX_PROBLEMS = 1000


class Spool:
    """Prepared records of one file, in file order, with the problems of the records that failed."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="reetrace-spool-")  # noqa: SIM115 (closed by close())
        self.records = 0
        self.problems: list[Problem] = []
        self.more = 0
        #: Output lots of records that failed on their own (see SubmissionWriter.invalid_outputs).
        self.invalid_outputs: set[str] = set()

    @classmethod
    def of(cls, items: Iterable[Prepared | Rejected]) -> Spool:
        spool = cls()
        try:
            chunk: list[Prepared] = []
            for item in items:
                if len(item) == 3:
                    for p in item[1]:
                        spool._problem(p)
                    if len(spool.invalid_outputs) < 100_000:
                        spool.invalid_outputs.update(item[2])
                    continue
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    spool._dump(chunk)
                    chunk = []
            if chunk:
                spool._dump(chunk)
            spool._file.flush()
        except BaseException:
            spool.close()
            raise
        return spool

    def _problem(self, p: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(p)
        else:
            self.more += 1

    def _dump(self, chunk: list[Prepared]) -> None:
        pickle.dump(chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.records += len(chunk)

    def __iter__(self) -> Iterator[Prepared]:
        self._file.seek(0)
        while True:
            try:
                chunk: list[Prepared] = pickle.load(self._file)  # our own file, written above
            except EOFError:
                return
            yield from chunk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["CHUNK", "MAX_PROBLEMS", "Spool"]
