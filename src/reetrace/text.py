"""What a piece of text in a record may contain: identifiers (lot codes, event ids, enterprise, site,
registry and document codes) and free text (product names, reasons, notes).

Identifiers are what people compare by eye and what the store joins on, so two that display alike must
be the same string (docs/contract/identities.md#what-an-identifier-may-contain):

- normalised to Unicode NFC, so a composed and a decomposed spelling are one identifier;
- no control or format characters (``str.isprintable``: newline, NUL, ANSI escapes, zero-width joiners
  and spaces, the byte-order mark, unassigned code points, surrogates) and no white space other than
  the ASCII space;
- letters from one script, or from one of the combinations that CJK writing uses with Latin (Latin +
  Han + Hiragana + Katakana, Latin + Han + Bopomofo, Latin + Han + Hangul; the "highly restrictive"
  level of Unicode TS #39). Digits, punctuation and symbols are common to every script; combining marks
  inherit their base's. So ``宝钢-2025-01`` and ``NMSEP-2503-A`` are identifiers, but a Latin code with a
  Cyrillic ``С`` is not.

The script of a letter is read from its Unicode name (``LATIN …``, ``CYRILLIC …``, ``CJK UNIFIED
IDEOGRAPH …``): the standard library's ``unicodedata`` has no Script property, and the name's first word
is the script for every letter that matters here, without a dependency. Pure ASCII (almost every code)
takes a fast path.

Free text (product names, reasons, notes) may hold any character but a control character (C0, C1,
DEL; a note may hold tabs and line breaks) or a lone surrogate: NUL is one that one database stores and
the other refuses.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from reetrace.messages import M_

#: Sets of scripts that may share one identifier (besides a single script alone).
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_HAN_WORDS = frozenset({"CJK", "IDEOGRAPHIC"})


@lru_cache(maxsize=4096)
def script_of(ch: str) -> str | None:
    """The script of a letter, or None for characters common to all scripts (digits, punctuation,
    symbols) and combining marks (which inherit their base's)."""
    cat = unicodedata.category(ch)
    if cat[0] != "L":
        return None
    words = unicodedata.name(ch, "UNKNOWN").split()
    while words and words[0] in ("FULLWIDTH", "HALFWIDTH", "SMALL", "MATHEMATICAL", "MODIFIER"):
        words = words[1:]
    if not words:
        return "UNKNOWN"
    if words[0] in _HAN_WORDS or words[0] == "KANGXI":
        return "HAN"
    return words[0]


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"{ch!r}, U+{ord(ch):04X}{' ' + name if name else ''}"


def identifier(value: str) -> str:
    """``value`` as an identifier (NFC), or ValueError saying what is wrong with it."""
    if value.isascii():
        if not value.isprintable():
            bad = next(ch for ch in value if not ch.isprintable())
            raise ValueError(M_("contains a control character ({character})", character=_describe(bad)))
        return value
    value = unicodedata.normalize("NFC", value)
    if not value.isprintable():
        bad = next(ch for ch in value if not ch.isprintable())
        raise ValueError(
            M_("contains a control, format or invisible character ({character})", character=_describe(bad))
        )
    if any(ch.isspace() and ch != " " for ch in value):
        bad = next(ch for ch in value if ch.isspace() and ch != " ")
        raise ValueError(
            M_("contains a white space other than a plain space ({character})", character=_describe(bad))
        )
    scripts: dict[str, str] = {}
    for ch in value:
        s = script_of(ch)
        if s is not None and s not in scripts:
            scripts[s] = ch
    if len(scripts) > 1 and not any(set(scripts) <= mix for mix in _ALLOWED_MIXES):
        shown = ", ".join(f"{s.title()} {c!r}" for s, c in sorted(scripts.items()))
        raise ValueError(
            M_("mixes scripts ({scripts}): letters that look alike must not make two codes", scripts=shown)
        )
    return value


def _control(value: str, allowed: str) -> str | None:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed:
            return ch
    return None


def free_text(value: str) -> str:
    """Free text (product, name, reason): no control character (C0, C1, DEL) or lone surrogate."""
    if value.isprintable():
        return value
    bad = _control(value, "")
    if bad is not None:
        raise ValueError(M_("contains a control character ({character})", character=_describe(bad)))
    return value


def note_text(value: str) -> str:
    """A note: free text that may also hold tabs and line breaks."""
    if value.isprintable():
        return value
    bad = _control(value, "\t\n\r")
    if bad is not None:
        raise ValueError(M_("contains a control character ({character})", character=_describe(bad)))
    return value


__all__ = ["free_text", "identifier", "note_text", "script_of"]
