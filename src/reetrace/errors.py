"""Errors raised by reetrace. Driver errors are mapped to these at the store boundary.

ReetraceError
 ├── InputError          a file, or a record in it, is wrong: carries every Problem found
 ├── NotRegistered       the reporter (or another required party) is not in the registry
 ├── StoreError          the database refused or failed
 │    ├── NoStore        the URL names no reetrace store (and the command may not create one)
 │    ├── Busy           another writer held the log longer than the lock timeout
 │    ├── Unavailable    the database does not answer (down, unreachable, refusing connections)
 │    └── Refused        the database refused to change recorded history (UPDATE/DELETE/TRUNCATE)
 ├── VerificationFailed  the log or a derived table no longer matches the hash chain
 └── LotNotFound         no event creates, draws or receives the lot
"""

from __future__ import annotations

from dataclasses import dataclass


class ReetraceError(Exception):
    """Base of every error reetrace raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input: where it is and why."""

    line: int
    field: str
    reason: str
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else f"line {self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class InputError(ReetraceError):
    """A submission or registry file was refused; nothing was written."""

    def __init__(self, problems: list[Problem], *, more: int = 0, file: str = "") -> None:
        self.problems = sorted(problems)
        self.more = more
        self.file = file
        n = len(self.problems) + more
        head = f"{file}: " if file else ""
        super().__init__(f"{head}{n} error{'s' if n != 1 else ''}; nothing was written")

    def report(self) -> str:
        lines = [str(self), *(f"  {p}" for p in self.problems)]
        if self.more:
            lines.append(f"  … and {self.more} more")
        return "\n".join(lines)


class NotRegistered(ReetraceError):
    """A party the store needs to know is not in the registry."""


class StoreError(ReetraceError):
    """The database refused or failed."""


class NoStore(StoreError):
    """The URL names no reetrace store, and the caller asked not to create one."""


class Busy(StoreError):
    """Another writer held the log for longer than the lock timeout."""


class Unavailable(StoreError):
    """The database does not answer: it is down, unreachable or refusing connections. Retrying later may
    succeed; nothing was read or written. ``read_only``: it is a read-only store (a replica)."""

    def __init__(self, message: str, *, read_only: bool = False) -> None:
        super().__init__(message)
        self.read_only = read_only


class Refused(StoreError):
    """The database refused to rewrite recorded history."""


class VerificationFailed(ReetraceError):
    """The stored log, a derived table or the schema does not match the chain and the migrations.

    ``position`` and ``reason`` name the first failure (by position; position 0 is the schema, not a
    record, and comes after the records);
    ``failures`` lists every failure found, up to verify's cap, and ``more`` counts the rest.
    """

    def __init__(
        self, position: int, reason: str, *, failures: list[tuple[int, str]] | None = None, more: int = 0
    ) -> None:
        self.position = position
        self.reason = reason
        self.failures = failures if failures is not None else [(position, reason)]
        self.more = more
        first = f"position {position}: {reason}" if position else f"schema: {reason}"
        total = len(self.failures) + more
        if total > 1:
            first += f" (and {total - 1} more failure{'s' if total > 2 else ''})"
        super().__init__(first)

    def report(self) -> str:
        lines = [str(self)]
        for pos, reason in self.failures:
            lines.append(f"  position {pos}: {reason}" if pos else f"  schema: {reason}")
        if self.more:
            lines.append(f"  … and {self.more} more")
        return "\n".join(lines)


class LotNotFound(ReetraceError):
    """No event creates, draws or receives the lot."""
