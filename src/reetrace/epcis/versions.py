"""The EPCIS and CBV versions this repository serves, and what a request may ask of them (GS1 EPCIS 2.0
REST bindings: the ``GS1-EPCIS-Version`` / ``GS1-CBV-Version`` headers on requests and responses, and the
``GS1-EPCIS-Min``/``-Max`` and ``GS1-CBV-Min``/``-Max`` range a client accepts).

We serve EPCIS 2.0.0 with CBV 2.0.0 and nothing else. A request without any of these headers is a 2.0.0
request. A request that names another version, or a range that excludes ours, is refused with what the
bindings define for it: 406 ``epcisException:NotAcceptableException``, its title naming the header. Versions
compare as numbers, dot by dot, trailing zeros ignored (``2``, ``2.0`` and ``2.0.0`` are the same).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

EPCIS_VERSION: Final = "2.0.0"
CBV_VERSION: Final = "2.0.0"
#: The headers every EPCIS response carries.
HEADERS: Final[Mapping[str, str]] = {"GS1-EPCIS-Version": EPCIS_VERSION, "GS1-CBV-Version": CBV_VERSION}
NOT_ACCEPTABLE: Final = "epcisException:NotAcceptableException"

_VERSION = re.compile(r"\d{1,6}(?:\.\d{1,6}){0,5}")
#: header -> (what it constrains, the version we serve, how the version asked must compare with ours).
_RULES: Final = {
    "GS1-EPCIS-Version": ("EPCIS", EPCIS_VERSION, "="),
    "GS1-EPCIS-Min": ("EPCIS", EPCIS_VERSION, "<="),
    "GS1-EPCIS-Max": ("EPCIS", EPCIS_VERSION, ">="),
    "GS1-CBV-Version": ("CBV", CBV_VERSION, "="),
    "GS1-CBV-Min": ("CBV", CBV_VERSION, "<="),
    "GS1-CBV-Max": ("CBV", CBV_VERSION, ">="),
}


class VersionNotServed(ValueError):
    """A request asks for an EPCIS or CBV version this repository does not serve (HTTP 406)."""

    status = 406
    type = NOT_ACCEPTABLE

    def problem(self) -> dict[str, object]:
        return {"type": self.type, "title": str(self), "status": self.status}


def _key(text: str) -> tuple[int, ...]:
    parts = [int(x) for x in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def check_versions(headers: Mapping[str, str]) -> None:
    """Raise :class:`VersionNotServed` unless every version header of a request (names as sent, any case)
    admits what we serve."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name, (what, ours, rule) in _RULES.items():
        given = lower.get(name.lower())
        if given is None:
            continue
        text = given.strip()
        if not _VERSION.fullmatch(text):
            raise VersionNotServed(
                f"{name}: {text[:40]!r} is not a version (numbers separated by dots); "
                f"this repository serves {what} {ours}"
            )
        asked, served = _key(text), _key(ours)
        ok = asked == served if rule == "=" else asked <= served if rule == "<=" else asked >= served
        if not ok:
            kind = {"=": "asks for", "<=": "asks for at least", ">=": "asks for at most"}[rule]
            raise VersionNotServed(f"{name}: {kind} {what} {text}; this repository serves {what} {ours} only")


__all__ = ["CBV_VERSION", "EPCIS_VERSION", "HEADERS", "NOT_ACCEPTABLE", "VersionNotServed", "check_versions"]
