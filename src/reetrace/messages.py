"""Texts the library makes for people (finding summaries, reasons of refused input, warnings), made
from named templates so that the workbench can show them in the reader's language.

A :class:`Message` *is* the English text the library always produced (a ``str``), so the CLI, JSON,
CSV, the API's problem+json and saved audit runs see exactly what they saw before; it also carries the
template it was made from (``msgid``, a ``str.format`` template) and its parameters. The workbench looks
the template up in its gettext catalog and formats the parameters for the locale
(:func:`reetrace.web.i18n.say`). Why a ``str`` subclass: every place that stores, compares, sorts or
serialises these texts keeps working unchanged, and a text that loses its template (concatenated,
formatted into another string, read back from JSON) simply shows in English.

Templates are marked with :func:`M_` (a keyword of the Babel extraction, see ``web/babel.cfg``), one
literal per call. Parameters are plain values: ``str`` shown verbatim (lot codes, enterprise codes,
times as ISO 8601 text), :class:`Instant` (a time as ISO 8601 text, shown by the workbench in
Asia/Shanghai with its offset), ``int`` shown verbatim (positions, years, line numbers: identifiers, never
grouped), ``float`` formatted by the template's spec (``{kg:.1f}``: the workbench groups digits for the
locale), or another :class:`Message` (translated with its parent).
"""

from __future__ import annotations

import numbers
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

#: The values a parameter may take (``None`` shows as ``None``, as it always did); anything else is a
#: programming error, refused when the message is made.
Param = str | int | float | numbers.Real | None
_FORMATTER = string.Formatter()


class Instant(str):
    """A time in a message: its ISO 8601 text in English (as the library always wrote it), and a time
    the workbench shows in Asia/Shanghai with its offset."""

    def __new__(cls, when: datetime | str) -> Instant:
        return super().__new__(cls, when.isoformat() if isinstance(when, datetime) else when)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Instant, (str(self),))


class Message(str):
    """An English text made from ``msgid`` and ``params``; equal to (and serialised as) the text."""

    msgid: str
    params: Mapping[str, Param | Message]

    def __new__(cls, msgid: str, params: Mapping[str, Param | Message] | None = None) -> Message:
        params = dict(params or {})
        for name, value in params.items():
            # Message is a str; the numbers.Real ABC is slow, so it is asked last.
            if value is not None and not isinstance(value, (str, int, float, numbers.Real)):
                raise TypeError(f"message parameter {name}={value!r}: str, number, None or Message only")
        self = super().__new__(cls, msgid.format(**params))
        self.msgid = msgid
        self.params = params
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Problems cross from the parser process to the writer in a pipe: keep the template on the way.
        return (Message, (self.msgid, dict(self.params)))

    def to_dict(self) -> dict[str, Any]:
        """``{"id": msgid, "params": {...}}``, nested messages likewise (JSON-safe)."""
        return {
            "id": self.msgid,
            "params": {k: _json(v) for k, v in self.params.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """The message of :meth:`to_dict`; ``ValueError`` when ``data`` is not one."""
        msgid, params = data.get("id"), data.get("params")
        if not isinstance(msgid, str) or not isinstance(params, dict):
            raise ValueError("a message is {'id': str, 'params': dict}")
        values: dict[str, Param | Message] = {}
        for k, v in params.items():
            if isinstance(v, dict) and isinstance(v.get("instant"), str):
                values[k] = Instant(v["instant"])
            else:
                values[k] = cls.from_dict(v) if isinstance(v, dict) else v
        try:
            return cls(msgid, values)
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"message {msgid!r} does not fit its parameters: {exc}") from None


def _json(value: Param | Message) -> Any:
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, Instant):
        return {"instant": str(value)}
    if isinstance(value, numbers.Real) and not isinstance(value, (int, float)):
        return float(value)  # a Decimal or a numpy number; restore() drops it if the text changes
    return value


def N_(msgid: str) -> str:
    """Marks a template for extraction where the parameters come later (``Message(TEMPLATE, {...})``)."""
    return msgid


def word(text: str) -> Message:
    """A word that comes from data (an event type, a process, a form): shown as it is in English, and
    translated by the workbench where its catalog has it (``web/vocabulary.py`` marks them)."""
    if "{" in text or "}" in text:  # not a word of the vocabulary: shown as it is
        return Message(text.replace("{", "{{").replace("}", "}}"))
    return Message(text)


def words(items: list[str] | tuple[str, ...]) -> Message:
    """Words from data, comma-separated (each one translated where the catalog has it)."""
    params: dict[str, Param | Message] = {f"w{i}": word(w) for i, w in enumerate(items)}
    return Message(", ".join(f"{{w{i}}}" for i in range(len(items))), params)


def M_(msgid: str, /, **params: Param | Message) -> Message:
    """A message from the template ``msgid`` (a literal, for extraction) and its parameters."""
    return Message(msgid, params)


def restore(text: str, data: Any) -> str:
    """``text`` with its template back (from :meth:`Message.to_dict`), when ``data`` still makes exactly
    ``text``; otherwise ``text`` as it is (a template changed since it was stored, or none was kept)."""
    if not isinstance(data, dict):
        return text
    try:
        message = Message.from_dict(data)
    except ValueError:
        return text
    return message if message == text else text


def placeholders(template: str) -> set[tuple[str, str]]:
    """The ``(name, spec)`` of every replacement field of a ``str.format`` template."""
    return {(name, spec or "") for _, name, spec, _ in _FORMATTER.parse(template) if name is not None}


def reason_of(exc: BaseException) -> str:
    """The text of an exception, as the message it was raised with when it was raised with one."""
    if len(exc.args) == 1 and isinstance(exc.args[0], Message):
        return exc.args[0]
    return str(exc)


__all__ = ["M_", "N_", "Instant", "Message", "placeholders", "reason_of", "restore", "word", "words"]
