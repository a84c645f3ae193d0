"""The words of the mapping (docs/epcis-mapping.md): CBV 2.0 terms we use, and our extension keys.

CBV values are written in their bare JSON-LD form (``"shipping"``), which the EPCIS 2.0 context expands to
``https://ref.gs1.org/cbv/BizStep-shipping``; both spellings are read back. Extension keys are compact
IRIs in the ``reetrace`` prefix that every exported document declares in its ``@context``.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from reetrace.epcis.ids import NS_IRI, NS_PREFIX

KGM: Final = "KGM"


def ext(name: str) -> str:
    """``"eventID"`` -> ``"reetrace:eventID"``."""
    return f"{NS_PREFIX}:{name}"


# Top-level extension keys.
X_EVENT_ID = ext("eventID")
X_EVENT_TYPE = ext("eventType")
X_REPORTER = ext("reporter")
X_PROCESS = ext("process")
X_COUNTERPARTY = ext("counterparty")
X_REASON = ext("reason")
X_NOTE = ext("note")
X_DEST_COUNTRY = ext("destinationCountry")
X_DEST_CUSTOMS = ext("destinationCustomsEntry")
X_SITE = ext("site")
X_DOCUMENTS = ext("documents")
# ilmd keys: one entry per output lot (EPCIS ilmd is per event; ours is per lot).
X_LOT = ext("lot")
X_EPC_CLASS = ext("epcClass")
X_PRODUCT = ext("product")
X_FORM = ext("form")
X_REO_PCT = ext("reoPct")
X_RE_METAL_PCT = ext("reMetalPct")
X_ELEMENTS = ext("elements")
X_FROM = ext("from")
X_ORIGIN_CUSTOMS = ext("originCustomsEntry")
X_ORIGIN_COUNTRY = ext("originCountry")
X_HS_CODE = ext("hsCode")

# reetrace event type -> (EPCIS event type, action or None, bizStep, disposition or None).
OBJECT = "ObjectEvent"
TRANSFORMATION = "TransformationEvent"
SHAPES: Final[dict[str, tuple[str, str | None, str, str | None]]] = {
    "extract": (OBJECT, "ADD", "commissioning", "active"),
    "import": (OBJECT, "ADD", "commissioning", "active"),
    "process": (TRANSFORMATION, None, "commissioning", "active"),
    "ship": (OBJECT, "OBSERVE", "shipping", "in_transit"),
    "receive": (TRANSFORMATION, None, "receiving", "in_progress"),
    "export": (OBJECT, "OBSERVE", "shipping", "in_transit"),
    "consume": (OBJECT, "DELETE", "decommissioning", "inactive"),
    "adjust+": (OBJECT, "ADD", "stock_taking", "active"),
    "adjust-": (OBJECT, "DELETE", "stock_taking", "inactive"),
}

#: Document kinds with a CBV business transaction type; any other kind gets a type in our namespace
#: (``https://reetrace.example/epcis/BTT-customs_entry``): the type is optional in EPCIS, but GS1's
#: reference hash generator fails on an untyped one, and a partner would rather see a kind than none.
BTT_OF_KIND: Final[dict[str, str]] = {
    "invoice": "inv",
    "waybill": "bol",
    "bill_of_lading": "bol",
    "purchase_order": "po",
    "despatch_advice": "desadv",
    "receiving_advice": "recadv",
    "certificate": "cert",
}


def btt(kind: str) -> str:
    """The business transaction type of a document kind (the kind itself travels in the document URI)."""
    return BTT_OF_KIND.get(kind) or f"{NS_IRI}BTT-{quote(kind, safe='')}"


ERROR_REASON: Final = "did_not_occur"

_CBV = "https://ref.gs1.org/cbv/"
_OLD_CBV = {
    "BizStep-": "urn:epcglobal:cbv:bizstep:",
    "Disp-": "urn:epcglobal:cbv:disp:",
    "BTT-": "urn:epcglobal:cbv:btt:",
    "SDT-": "urn:epcglobal:cbv:sdt:",
    "ER-": "urn:epcglobal:cbv:er:",
}


def bare(value: str, kind: str) -> str:
    """A CBV term in any of its three spellings -> the bare one (``kind`` is ``BizStep-``, ``Disp-``…)."""
    for prefix in (_CBV + kind, _OLD_CBV[kind]):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value
