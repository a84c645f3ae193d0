"""Identifiers: reetrace lots, parties, sites and documents as URIs, and back (docs/epcis-mapping.md).

EPCIS wants URIs where reetrace has codes. Every scheme lives here so that swapping the project URN for a
registered namespace (or a GS1 key) touches one module. Codes are percent-encoded with only RFC 3986
unreserved characters left bare, so a lot code may hold ``:``, ``/``, spaces or any Unicode and still
decode to itself; the enterprise part of a lot never holds ``:`` (the contract forbids it), so the first
``:`` after the prefix always ends it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote, unquote

#: The JSON-LD prefix and IRI of everything CBV has no word for. Stable: event hash IDs depend on it.
NS_PREFIX = "reetrace"
NS_IRI = "https://reetrace.example/epcis/"
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

LOT_URN = "urn:reetrace:lot:"
PARTY_URN = "urn:reetrace:party:"
SITE_URN = "urn:reetrace:site:"
DOC_URN = "urn:reetrace:doc:"
EVENT_URN = "urn:reetrace:event:"

_DL = re.compile(r"^https://id\.gs1\.org/01/(\d{14})/10/([A-Za-z0-9._-]{1,20})$")
_DL_BATCH = re.compile(r"^[A-Za-z0-9._-]{1,20}$")


#: What ``quote(…, safe="")`` leaves as it is: most codes are made of these only, and then need no call.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _enc(code: str) -> str:
    return code if _UNRESERVED.fullmatch(code) else quote(code, safe="")


@lru_cache(maxsize=1 << 16)
def party_uri(enterprise: str) -> str:
    return PARTY_URN + _enc(enterprise)


@lru_cache(maxsize=1 << 16)
def site_uri(site: str) -> str:
    return SITE_URN + _enc(site)


def doc_uri(kind: str, ident: str) -> str:
    """A business document: its kind is part of the URI, so any document key survives the round trip."""
    return f"{DOC_URN}{_enc(kind)}:{_enc(ident)}"


@lru_cache(maxsize=1 << 16)
def lot_urn(lot: str) -> str:
    """``ENT:LOT`` -> ``urn:reetrace:lot:ENT:LOT`` (each part percent-encoded)."""
    ent, _, code = lot.partition(":")
    return f"{LOT_URN}{_enc(ent)}:{_enc(code)}"


def _strip(uri: str, prefix: str, what: str) -> str:
    if not uri.startswith(prefix):
        raise ValueError(f"{uri!r} is not a {what} URI ({prefix}…)")
    rest = uri[len(prefix) :]
    if not rest:
        raise ValueError(f"{uri!r} names no {what}")
    return rest


def parse_party(uri: str) -> str:
    return unquote(_strip(uri, PARTY_URN, "reetrace party"))


def parse_site(uri: str) -> str:
    return unquote(_strip(uri, SITE_URN, "reetrace site"))


def parse_doc(uri: str) -> tuple[str, str]:
    kind, sep, ident = _strip(uri, DOC_URN, "reetrace document").partition(":")
    if not sep or not kind or not ident:
        raise ValueError(f"{uri!r} is not {DOC_URN}KIND:ID")
    return unquote(kind), unquote(ident)


def parse_lot_urn(uri: str) -> str:
    ent, sep, code = _strip(uri, LOT_URN, "reetrace lot").partition(":")
    ent, code = unquote(ent), unquote(code)
    if not sep or not ent or not code or ":" in ent or any(c.isspace() for c in ent):
        raise ValueError(f"{uri!r} is not {LOT_URN}ENT:LOT")
    return f"{ent}:{code}"


def gs1_digital_link(gtin: str, batch: str) -> str:
    """The canonical GS1 Digital Link of a batch: GTIN padded to 14 digits, batch left as is."""
    return f"https://id.gs1.org/01/{gtin.zfill(14)}/10/{batch}"


@dataclass(frozen=True)
class LotIds:
    """How lots become ``epcClass`` URIs and back.

    By default every lot is a project URN. ``gtins`` maps a lot (``ENT:LOT``) to the GTIN the registry
    gives its product; such a lot is written as a GS1 Digital Link
    (``https://id.gs1.org/01/{GTIN}/10/{LOT}``) when its code is a plain GS1 batch (≤ 20 characters of
    ``A-Z a-z 0-9 . _ -``), so that a partner's scanner and our export name it alike. It is keyed by lot,
    not by product, because an input line carries no product: the same lot must get the same URI in every
    event. Reading back, a Digital Link is found through the same mapping (GTIN and batch -> lot).
    """

    gtins: Mapping[str, str] = field(default_factory=dict)
    _by_link: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_link: dict[str, str] = {}
        for lot, gtin in self.gtins.items():
            if not re.fullmatch(r"\d{8}|\d{12,14}", gtin):
                raise ValueError(f"GTIN {gtin!r} of {lot} is not 8, 12, 13 or 14 digits")
            code = lot.partition(":")[2]
            if _DL_BATCH.match(code):
                by_link[gs1_digital_link(gtin, code)] = lot
        object.__setattr__(self, "_by_link", by_link)

    def uri(self, lot: str) -> str:
        gtin = self.gtins.get(lot)
        if gtin is not None:
            code = lot.partition(":")[2]
            if _DL_BATCH.match(code):
                return gs1_digital_link(gtin, code)
        return lot_urn(lot)

    def lot(self, uri: str) -> str:
        """The ``ENT:LOT`` a URI names; ``ValueError`` says why when it names none we know."""
        if uri.startswith("https://id.gs1.org/"):
            found = self._by_link.get(uri)
            if found is None:
                if _DL.match(uri):
                    raise ValueError(f"{uri!r}: no lot is known for this GTIN and batch")
                raise ValueError(f"{uri!r} is not a canonical GS1 Digital Link of a batch")
            return found
        return parse_lot_urn(uri)


DEFAULT_LOT_IDS = LotIds()
