"""The CBV 2.0 event hash ID (``ni:///sha-256;<hex>?ver=CBV2.0``), computed from an EPCIS event dict.

The algorithm (CBV 2.0 §8.9, reference implementation: PyPI ``epcis-event-hash-generator``): write a
canonical *pre-hash string* and hash its UTF-8 bytes with SHA-256.

1. ``eventType=`` and the event type.
2. The standard fields in a fixed order (``_ORDER``), each ``name=value`` with no separator; a list
   contributes its items' strings sorted lexically (``epcList`` + ``epc=…`` …, ``quantityList`` +
   ``quantityElement`` + ``epcClass=…quantity=…uom=…`` …); ``readPoint``/``bizLocation`` give ``id=…``.
3. Everything else but ``eventID``, ``recordTime``, ``type`` and ``errorDeclaration`` (an error
   declaration must keep the hash of the event it declares wrong), each written generically
   (``name=value``, nested names concatenated, siblings sorted lexically), all sorted lexically. Extension
   names are written ``{namespace IRI}local``. Business transactions, sources and destinations keep the
   ``type=…`` then ``bizTransaction=…``/``source=…``/``destination=…`` order inside an item.

Values are canonicalised: times to UTC with milliseconds and ``Z``; numbers (and strings that read as
numbers) to their shortest decimal, integral values without ``.0``; CBV terms to their web vocabulary
URI (``shipping`` -> ``https://ref.gs1.org/cbv/BizStep-shipping``; old ``urn:epcglobal:cbv:`` URNs
likewise); a value written with a declared prefix (``reetrace:x``) to its full IRI.

Where the reference implementation departs from the standard's prose we follow the reference, because
partners compare IDs with it: business transactions, sources and destinations are sorted with the
extensions in step 3 instead of keeping their place in step 2. Scope: the fields our mapping writes and
the plain standard ones; EPC URNs are *not* rewritten to GS1 Digital Links (we never write them) and
sensor data is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from reetrace.epcis.ids import NS_IRI, NS_PREFIX

_CBV = "https://ref.gs1.org/cbv/"
_OLD_URNS = (
    ("urn:epcglobal:cbv:bizstep:", _CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", _CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", _CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", _CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", _CBV + "ER-"),
)
_LEAF = frozenset({"eventTime", "eventTimeZoneOffset", "certificationInfo", "parentID", "action",
                   "transformationID", "bizStep", "disposition"})  # fmt: skip
_EPC_LISTS = frozenset({"epcList", "inputEPCList", "childEPCs", "outputEPCList"})
_QTY_LISTS = frozenset({"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"})
_ORDER = (
    "eventTime", "eventTimeZoneOffset", "certificationInfo", "parentID", "epcList", "inputEPCList",
    "childEPCs", "quantityList", "childQuantityList", "inputQuantityList", "outputEPCList",
    "outputQuantityList", "action", "transformationID", "bizStep", "disposition", "persistentDisposition",
    "readPoint", "bizLocation",
)  # fmt: skip
_IGNORED = frozenset({"eventID", "recordTime", "type", "errorDeclaration", "@context"})
#: Terms whose bare values are CBV vocabulary, with the web vocabulary prefix they expand to.
_VOCAB = {"bizStep": "BizStep-", "disposition": "Disp-", "set": "Disp-", "unset": "Disp-"}
_TYPED = {"bizTransactionList": ("bizTransaction", "BTT-"), "sourceList": ("source", "SDT-"),
          "destinationList": ("destination", "SDT-")}  # fmt: skip
DEFAULT_NAMESPACES: Mapping[str, str] = {NS_PREFIX: NS_IRI}


_NUMERIC_START = frozenset("0123456789+-.iInN")


def _number(text: str) -> str:
    """A value that reads as a number, written the shortest way (as Python's float reads it: so does GS1's
    reference implementation, which canonicalises *every* value that parses, lot codes included)."""
    if not text or text[0] not in _NUMERIC_START:
        return text  # cannot parse: skip the exception, most values are names and URIs
    try:
        x = float(text)
    except ValueError:
        return text
    try:
        return str(int(x)) if int(x) == x else str(x)
    except (OverflowError, ValueError):  # inf, nan: left as written
        return text


def _expand(text: str, ns: Mapping[str, str]) -> str:
    prefix, sep, rest = text.partition(":")
    if sep and prefix in ns:
        text = ns[prefix] + rest
    if "urn:epcglobal:cbv:" in text:
        for old, new in _OLD_URNS:
            text = text.replace(old, new)
    return _number(text.strip())


@lru_cache(maxsize=1 << 16)
def _canon_default(text: str) -> str:
    return _expand(text, DEFAULT_NAMESPACES)


def _canon(value: object, ns: Mapping[str, str]) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and -(2**53) < value < 2**53:
        return str(value)
    text = value if isinstance(value, str) else str(value)
    return _canon_default(text) if ns is DEFAULT_NAMESPACES else _expand(text, ns)


def _vocab(value: object, kind: str, ns: Mapping[str, str]) -> str:
    text = _canon(value, ns)
    return text if ":" in text else _CBV + kind + text


def _time(value: object) -> str:
    text = str(value).strip()
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return text
    return utc_millis(ts)


def utc_millis(ts: datetime) -> str:
    """A time as the pre-hash string writes it: UTC, milliseconds (rounded), ``Z``."""
    if ts.tzinfo is None:
        ts = ts.astimezone()  # as the reference does: a naive time is local time
    ts = ts.astimezone(UTC)
    if not ts.microsecond:  # the usual case: no rounding to do
        return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ms = round(ts.microsecond, -3)
    ts = ts.replace(microsecond=0) + timedelta(microseconds=ms)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _name(key: str, ns: Mapping[str, str]) -> str:
    prefix, sep, local = key.partition(":")
    return "{" + ns[prefix] + "}" + local if sep and prefix in ns else key


def _generic(name: str, value: Any, ns: Mapping[str, str]) -> list[str]:
    """One key's strings: a list gives one string per item, each under the same name."""
    if isinstance(value, list):
        return [s for item in value for s in _generic(name, item, ns)]
    if isinstance(value, dict):
        return [name + "".join(_children(value, ns))]
    text = _canon(value, ns)
    return [f"{name}={text}" if text else name]


def _children(obj: Mapping[str, Any], ns: Mapping[str, str]) -> list[str]:
    return sorted(s for k, val in obj.items() if k not in _IGNORED for s in _generic(_name(k, ns), val, ns))


def _typed_list(name: str, items: list[Mapping[str, Any]], ns: Mapping[str, str]) -> str:
    key, kind = _TYPED[name]
    parts = []
    for item in items:
        typed = f"type={_vocab(item['type'], kind, ns)}" if item.get("type") is not None else ""
        parts.append(f"{typed}{key}={_canon(item[key], ns)}")
    return name + "".join(sorted(parts))


def _ordered(name: str, value: Any, ns: Mapping[str, str]) -> str:
    if name in ("eventTime",):
        return f"{name}={_time(value)}"
    if name in _VOCAB:
        return f"{name}={_vocab(value, _VOCAB[name], ns)}"
    if name in _LEAF:
        text = _canon(value, ns)
        return f"{name}={text}" if text else ""
    if name in _EPC_LISTS:
        return name + "".join(sorted(f"epc={_canon(e, ns)}" for e in value)) if value else ""
    if name in _QTY_LISTS:
        items = []
        for q in value:
            s = "quantityElement" + f"epcClass={_canon(q['epcClass'], ns)}"
            if q.get("quantity") is not None:
                s += f"quantity={_canon(q['quantity'], ns)}"
            if q.get("uom") is not None:
                s += f"uom={_canon(q['uom'], ns)}"
            items.append(s)
        return name + "".join(sorted(items)) if items else ""
    if name in ("readPoint", "bizLocation"):
        return f"{name}id={_canon(value['id'], ns)}"
    if name == "persistentDisposition":
        sets = (sorted(f"{k}={_vocab(x, 'Disp-', ns)}" for x in value.get(k, [])) for k in ("set", "unset"))
        return name + "".join("".join(s) for s in sets)
    raise AssertionError(name)  # pragma: no cover


# The exporter's fast path (reetrace.epcis.export) writes the pre-hash string of the events it builds
# itself, field by field, instead of walking the dict it just built; it uses these pieces so that every
# value is canonicalised by the very code the generic walk uses (tests compare both on every event).


def canon(value: object) -> str:
    """A value as the pre-hash string writes it (default namespaces)."""
    # The two usual types first, as _canon writes them, without its chain of type tests.
    if type(value) is str:
        return _canon_default(value)
    if type(value) is float:
        return str(int(value)) if value.is_integer() else repr(value)
    return _canon(value, DEFAULT_NAMESPACES)


def vocab(value: object, kind: str) -> str:
    """A CBV term (``kind``: ``BizStep-``, ``Disp-``, ``BTT-``, ``SDT-``) as its web vocabulary URI."""
    return _vocab(value, kind, DEFAULT_NAMESPACES)


def hash_name(key: str) -> str:
    """A key as the pre-hash string names it (``reetrace:x`` -> ``{https://reetrace.example/epcis/}x``)."""
    return _name(key, DEFAULT_NAMESPACES)


def leaf(name: str, value: object) -> str:
    """``name=value`` of a plain value (``name`` already from :func:`hash_name`), as the generic walk
    writes a key outside the fixed order."""
    text = canon(value)
    return f"{name}={text}" if text else name


def hash_id_of(prehash_string: str) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of a pre-hash string."""
    return f"ni:///sha-256;{hashlib.sha256(prehash_string.encode()).hexdigest()}?ver=CBV2.0"


def prehash(event: Mapping[str, Any], namespaces: Mapping[str, str] = DEFAULT_NAMESPACES) -> str:
    """The canonical pre-hash string of one EPCIS event dict (JSON-LD, compact form)."""
    if "sensorElementList" in event:
        raise ValueError("sensorElementList: sensor data is outside what reetrace hashes")
    parts = ["eventType=" + str(event["type"])]
    for name in _ORDER:
        if name in event and event[name] is not None:
            parts.append(_ordered(name, event[name], namespaces))
    rest: list[str] = []
    for k, val in event.items():
        if k in _IGNORED or k in _ORDER:
            continue
        if k in _TYPED:
            rest.append(_typed_list(k, val, namespaces))
        else:
            rest.extend(_generic(_name(k, namespaces), val, namespaces))
    parts.extend(sorted(rest))
    return "".join(parts)


def event_hash_id(event: Mapping[str, Any], namespaces: Mapping[str, str] = DEFAULT_NAMESPACES) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of one EPCIS event dict."""
    return hash_id_of(prehash(event, namespaces))
