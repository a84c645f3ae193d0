"""Shared pieces of the CLI: the root group, common options, error mapping, output helpers."""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from reetrace.errors import InputError, ReetraceError

if TYPE_CHECKING:
    from rich.console import Console

    from reetrace.store import Store

#: The version of every JSON document the CLI prints (``"format"``): bumped when a field changes
#: meaning or disappears; new fields may appear without a bump.
JSON_FORMAT = "reetrace-cli/1"

#: The default store (repeated from :mod:`reetrace.store` so that building the CLI imports no database
#: code; a test checks that the two agree).
DEFAULT_URL = "sqlite:///reetrace.db"

F = TypeVar("F", bound=Callable[..., Any])


def db_option(f: F) -> F:
    """``--db URL``: the store to use."""
    return click.option(
        "--db",
        "db",
        envvar="REETRACE_DB",
        default=DEFAULT_URL,
        show_default=True,
        metavar="URL",
        help="Database: sqlite:///FILE or postgresql://USER@HOST/DB (env REETRACE_DB).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")(f)


class CliError(click.ClickException):
    """An error with its problems listed apart, so that ``--json`` can print them as a list."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def format_message(self) -> str:
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


@contextmanager
def store_for(url: str, *, create: bool = False) -> Iterator[Store]:
    """Open the store and turn library errors into clean CLI errors.

    Only the commands that put data in (``init``, ``registry load``, ``submit``, ``load``, ``demo``)
    pass ``create=True``; every other command refuses a URL without a store, so that a mistyped
    path is an error instead of a new, empty database and a reassuring "0 finding(s)".
    """
    from reetrace import open_store

    try:
        store = open_store(url, create=create)
    except ReetraceError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # a bad URL or an unreachable server: say which, not a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot open {url!r}: {first}") from exc
    try:
        yield store
    finally:
        store.dispose()


def _database_error(exc: BaseException) -> str | None:
    """A one-line message for a driver error (disk full, a terminated connection), else None."""
    import sqlite3

    orig: BaseException | None = None
    if "sqlalchemy" in sys.modules:
        import sqlalchemy as sa

        if isinstance(exc, sa.exc.DBAPIError):
            orig = exc.orig or exc
        elif isinstance(exc, sa.exc.SQLAlchemyError):
            orig = exc
    if isinstance(exc, sqlite3.Error):
        orig = exc
    if orig is None and "psycopg" in sys.modules:
        import psycopg

        if isinstance(exc, psycopg.Error):
            orig = exc
    if orig is None:
        return None
    text = str(orig).strip().splitlines()
    return f"database error: {text[0] if text else type(orig).__name__}"


def errors_to_click(f: F) -> F:
    """Library errors -> ``click.ClickException`` (exit 1) with the library's message.

    Driver errors (a full disk, a connection the server terminated), damaged gzip files and
    unwritable outputs become one clear line instead of a traceback.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import gzip
        import zlib

        try:
            return f(*args, **kwargs)
        except click.ClickException:
            raise
        except InputError as exc:
            raise CliError(str(exc), [str(p) for p in exc.problems]
                           + ([f"… and {exc.more} more"] if exc.more else [])) from exc  # fmt: skip
        except (ReetraceError, ValueError, FileNotFoundError) as exc:
            raise CliError(str(exc)) from exc
        except EOFError as exc:  # gzip raises it for a stream cut short (click would say "Aborted!")
            raise CliError(f"{_file_of(kwargs)}truncated gzip data: {exc}; nothing was written") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise CliError(f"{_file_of(kwargs)}damaged gzip data: {exc}; nothing was written") from exc
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise CliError(f"{where}{exc.strerror or exc}") from exc
        except Exception as exc:
            msg = _database_error(exc)
            if msg is None:
                raise
            raise CliError(msg) from exc

    return wrapper  # type: ignore[return-value]


def _file_of(kwargs: dict[str, Any]) -> str:
    name = kwargs.get("file")
    return f"{name}: " if isinstance(name, str) else ""


def console(*, stderr: bool = False) -> Console:
    """A rich console; when output is not a terminal, no width limit (identifiers are never cut)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(file=stream, width=1_000_000, soft_wrap=True, no_color=True, highlight=False)


def write_output(path: str, data: bytes | Callable[[str], None]) -> None:
    """Write ``data`` (bytes, or a function writing to a path) to ``path`` safely.

    A regular file is written to a temporary file in the same directory and renamed over the
    target, so a crash or a full disk never leaves half a file and a symlink planted at the target
    is never followed (it is refused). A device or pipe (``/dev/stdout``) is written directly.
    """
    target = Path(path)
    if target.is_symlink():
        raise CliError(f"{path}: is a symbolic link; refusing to write through it")
    if target.exists() and not target.is_file():
        if target.is_dir():
            raise CliError(f"{path}: is a directory")
        try:
            if callable(data):
                data(path)
            else:
                with target.open("wb") as fh:
                    fh.write(data)
        except OSError as exc:
            raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=directory)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def parse_time(value: str | None, *, param_hint: str, dates: bool) -> datetime | None:
    """An ISO 8601 time with offset; with ``dates``, also ``YYYY-MM-DD`` (start of day, Asia/Shanghai)."""
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        what = "a date or ISO 8601 time" if dates else "ISO 8601"
        raise click.BadParameter(f"{value!r} is not {what}", param_hint=param_hint) from exc
    if ts.tzinfo is None:
        from reetrace.periods import SHANGHAI

        if not dates or len(value) > 10:
            raise click.BadParameter("give an offset, e.g. 2025-04-11T00:00:00+08:00", param_hint=param_hint)
        ts = ts.replace(tzinfo=SHANGHAI)
    try:
        year = ts.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise click.BadParameter(f"{value!r} is out of range (years {MIN_YEAR} to {MAX_YEAR})",
                                 param_hint=param_hint)  # fmt: skip
    return ts


#: Times the CLI accepts: wide enough for any record, narrow enough that deadlines and period ends
#: computed from them stay representable.
MIN_YEAR, MAX_YEAR = 1900, 2999


def parse_period(value: str | None, *, param_hint: str = "--period") -> str | None:
    """A ``YYYY-MM`` option; a malformed one is a usage error (exit 2), like any bad option."""
    if value is None:
        return None
    from reetrace.periods import Period

    try:
        return str(Period.parse(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from exc


def display_time(value: datetime | str) -> str:
    """The one time convention of output: ISO 8601 in Asia/Shanghai with its offset (+08:00)."""
    from reetrace.periods import SHANGHAI

    ts = datetime.fromisoformat(value) if isinstance(value, str) else value
    return ts.astimezone(SHANGHAI).isoformat()


_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def json_bytes(data: Any) -> bytes:
    """Stable JSON: keys sorted, times ISO 8601 in Asia/Shanghai, floats rounded to the gram/ppm."""
    return orjson.dumps(
        _stable(data), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS,
        default=str,
    ) + b"\n"  # fmt: skip


def _stable(v: Any) -> Any:
    if isinstance(v, float):
        # 6 decimals: a milligram of a kg mass, a millionth of a share. Below any measurement, and
        # identical on both backends whatever order a SUM added its terms in.
        r = round(v, 6)
        return 0.0 if r == 0 else r
    if isinstance(v, datetime):
        return display_time(v)
    if isinstance(v, str) and _ISO_TIME.match(v):
        return display_time(v)
    if isinstance(v, dict):
        return {k: _stable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_stable(x) for x in v]
    return v


def print_json(data: Any) -> None:
    """Print a JSON document for programs; a dict gets the ``"format"`` version field."""
    if isinstance(data, dict) and "format" not in data:
        data = {"format": JSON_FORMAT, **data}
    sys.stdout.buffer.write(json_bytes(data))
    sys.stdout.flush()


def print_json_error(message: str, problems: list[str]) -> None:
    """With ``--json``, errors are a JSON document on standard error (stdout stays for data)."""
    err = {"format": JSON_FORMAT, "error": message, "problems": problems}
    click.echo(json_bytes(err).decode(), err=True, nl=False)


#: Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A report cell that a spreadsheet shows as text: a leading ``'`` before a formula character.

    Only for reports (``audit --csv``) that people open in Excel; data files written for
    ``reetrace submit`` keep their values exactly, so that they round-trip.
    """
    return "'" + value if value.startswith(_FORMULA_START) else value
