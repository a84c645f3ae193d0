"""Shared pieces of the CLI: the root group, common options, error mapping, output helpers."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from reetrace.errors import InputError, ReetraceError

if TYPE_CHECKING:
    from reetrace.store import Store

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


@contextmanager
def store_for(url: str) -> Iterator[Store]:
    """Open the store and turn library errors into clean CLI errors."""
    from reetrace import open_store

    try:
        store = open_store(url)
    except ReetraceError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # a bad URL or an unreachable server: say which, not a traceback
        raise click.ClickException(f"cannot open {url}: {exc}") from exc
    try:
        yield store
    finally:
        store.dispose()


def errors_to_click(f: F) -> F:
    """Library errors -> ``click.ClickException`` (exit 1) with the library's message."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except InputError as exc:
            raise click.ClickException(exc.report()) from exc
        except (ReetraceError, ValueError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


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
    return ts


def print_json(data: Any) -> None:
    sys.stdout.buffer.write(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str) + b"\n"
    )
    sys.stdout.flush()
