"""Languages of the workbench: zh-CN (the inspectors' working language, and the default) and English.

Texts are gettext messages in the templates and in Python (``_("…")``), translated by the catalogs in
``locale/<lang>/LC_MESSAGES/messages.po``. The catalogs are read with Babel when the app starts (no
compiled ``.mo`` files in the repository: the ``.po`` is the one source, and a test fails when a message
has no Chinese translation). Each language has its own Jinja2 environment, so a request never swaps the
translations of another request in flight.

Texts made by the library (finding summaries, reasons of a refused upload, warnings) are
:class:`reetrace.messages.Message`: :func:`say` (the ``say`` filter in templates) looks their template up
in the same catalog and formats their parameters for the locale. English pages show them exactly as the
library wrote them (the CLI's and the API's words).

Dates are shown in Asia/Shanghai with their offset; numbers are formatted for the locale.
"""

from __future__ import annotations

import functools
import numbers
import re
from collections.abc import Iterable
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import (
    format_decimal,
    format_percent,
    get_decimal_symbol,
    get_group_symbol,
    get_minus_sign_symbol,
    get_plus_sign_symbol,
)
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from reetrace.messages import Instant, Message
from reetrace.periods import SHANGHAI

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
TEMPLATES = HERE / "templates"
#: (code used in URLs and cookies, Babel locale name, name shown in the switch)
LANGUAGES: tuple[tuple[str, str, str], ...] = (("zh-CN", "zh_CN", "中文"), ("en", "en", "English"))
DEFAULT = "zh-CN"
_BABEL = {code: name for code, name, _ in LANGUAGES}


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The page language: the switch's cookie, else the browser's Accept-Language, else zh-CN."""
    if cookie in _BABEL:
        return cookie
    prefs: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        if not tag:
            continue
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        prefs.append((weight, tag.strip()))
    # In the browser's order of preference, the first tag whose language we have: any Chinese variant
    # reads the zh-CN pages (simplified characters are the inspectors' working script).
    for _, tag in sorted(prefs, key=lambda p: -p[0]):
        primary = tag.lower().split("-")[0]
        if primary == "zh":
            return "zh-CN"
        if primary == "en":
            return "en"
    return DEFAULT


@functools.cache
def translations(lang: str) -> NullTranslations:
    po = LOCALE_DIR / _BABEL[lang] / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=_BABEL[lang])
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


class Formatter:
    """Locale-aware formatting, handed to templates as ``fmt``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        try:
            self.locale = Locale.parse(_BABEL[lang])
        except UnknownLocaleError:  # pragma: no cover - both locales ship with Babel
            self.locale = Locale.parse("en")

    def num(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return str(format_decimal(value, format=pattern, locale=self.locale))

    def kg(self, value: float | None) -> str:
        """A mass: tonnes from 10 t up, kilograms below."""
        if value is None:
            return "—"
        if abs(value) >= 10_000:
            return f"{self.num(value / 1000, 1)} t"
        return f"{self.num(value)} kg"

    def pct(self, share: float | None, digits: int = 1) -> str:
        if share is None:
            return "—"
        return str(format_percent(share, format="#,##0." + "0" * digits + "%", locale=self.locale))

    def dt(self, value: datetime | str | None) -> str:
        """An instant in Asia/Shanghai, with its offset (so a reader never has to guess the zone)."""
        if value is None:
            return "—"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return str(format_datetime(value.astimezone(SHANGHAI), "yyyy-MM-dd HH:mm xxx", locale=self.locale))


@functools.cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["say"] = functools.partial(say, lang)
    env.globals["fmt"] = Formatter(lang)
    env.globals["lang"] = lang
    env.globals["languages"] = LANGUAGES
    return env


def gettext(lang: str, message: str, **params: Any) -> str:
    """A message translated outside templates (errors shown on pages)."""
    text = str(translations(lang).gettext(message))
    return text % params if params else text


#: A number's format spec in a library message: sign, grouping, precision, type (``+,.2f``).
_NUMBER_SPEC = re.compile(r"^(?P<sign>\+)?,?(?P<precision>\.\d+)?(?P<type>[fgd%])?$")


class _Say:
    """Formats a message's parameters for a locale: numbers with a format spec grouped with the locale's
    symbols, nested messages translated, instants in Asia/Shanghai with their offset, everything else
    (codes, lots, times as ISO text, numbers without a spec: positions, years, lines) verbatim.

    A number keeps the English text's digits (Python's rounding of the float), grouped by three and
    written with the locale's group, decimal, plus and minus symbols from Babel: both languages show the
    same number, and our locales group by three. (Babel's ``format_decimal`` would round a second time,
    half to even on the decimal text: 92.55 showed as 92.5 in English and 92.6 in Chinese; it also
    reads the locale's data on every call.)"""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.formatter = Formatter(lang)
        loc = self.formatter.locale
        symbols = {
            ",": get_group_symbol(loc), ".": get_decimal_symbol(loc),
            "+": get_plus_sign_symbol(loc), "-": get_minus_sign_symbol(loc),
        }  # fmt: skip
        # zh-CN writes numbers with Python's own symbols: nothing to replace (and no str.translate).
        self.symbols = None if all(k == v for k, v in symbols.items()) else str.maketrans(symbols)

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Message):
            return say(self.lang, value)
        if isinstance(value, Instant):
            return self.formatter.dt(value)
        m = _NUMBER_SPEC.match(format_spec)
        number = isinstance(value, (int, float, numbers.Real))  # the slow ABC is asked last
        if not format_spec or m is None or isinstance(value, bool) or not number:
            return str(format(value, format_spec))
        grouped = f"{m['sign'] or ''},{m['precision'] or ''}{m['type'] or ''}"
        text = str(format(value, grouped))
        return text.translate(self.symbols) if self.symbols else text


@functools.cache
def _sayer(lang: str) -> _Say:
    return _Say(lang)


class _Param:
    """A parameter that formats itself for the locale: ``str.format_map`` parses the template (in C,
    where ``string.Formatter`` parses in Python) and hands each field's spec here."""

    __slots__ = ("sayer", "value")

    def __init__(self, sayer: _Say, value: Any) -> None:
        self.sayer, self.value = sayer, value

    def __format__(self, spec: str) -> str:
        return self.sayer.format_field(self.value, spec)

    def __str__(self) -> str:
        return self.sayer.format_field(self.value, "")

    def __repr__(self) -> str:
        return repr(self.value)


def say(lang: str, text: Any) -> str:
    """A library text in ``lang``: a :class:`Message` through the catalog with its parameters formatted
    for the locale; anything else (a plain string, a run saved without templates) as it is. English is
    the library's own text, unchanged."""
    if not isinstance(text, Message):
        return "" if text is None else str(text)
    if lang == "en" or not text.msgid:
        return str(text)
    template = str(translations(lang).gettext(text.msgid))
    try:
        sayer = _sayer(lang)
        return template.format_map({k: _Param(sayer, v) for k, v in text.params.items()})
    except (KeyError, IndexError, ValueError):  # a translation that does not fit (the tests forbid it)
        return str(text)


def messages_in_use() -> Iterable[str]:
    """Every message id the templates, the web package and the library's messages use (for the catalog
    test)."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    # ``t(request, "…")`` in pages.py translates its second argument; ``M_("…", **params)`` and
    # ``N_("…")`` anywhere in the library are the templates of its messages (reetrace.messages).
    keywords = {**DEFAULT_KEYWORDS, "t": (2,), "M_": None}
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(HERE.parent), method_map=method_map, options_map=options, keywords=keywords
    ):
        yield message if isinstance(message, str) else message[0]


__all__ = [
    "DEFAULT", "LANGUAGES", "Formatter", "environment", "gettext", "negotiate", "say", "translations",
]  # fmt: skip
