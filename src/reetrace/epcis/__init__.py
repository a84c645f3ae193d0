"""GS1 EPCIS 2.0 interchange: export events, import documents that follow our mapping, and read a
foreign supplier's document as a declared provenance chain (docs/epcis-mapping.md)."""

from reetrace.epcis.export import MissingRetracted, Resolver, document, event_to_epcis, write_document
from reetrace.epcis.foreign import ProvenanceChain, parse_foreign
from reetrace.epcis.hashid import event_hash_id, prehash
from reetrace.epcis.ids import DEFAULT_LOT_IDS, NS_IRI, LotIds
from reetrace.epcis.importer import parse_document, parse_event

__all__ = [
    "DEFAULT_LOT_IDS",
    "NS_IRI",
    "LotIds",
    "MissingRetracted",
    "ProvenanceChain",
    "Resolver",
    "document",
    "event_hash_id",
    "event_to_epcis",
    "parse_document",
    "parse_event",
    "parse_foreign",
    "prehash",
    "write_document",
]
