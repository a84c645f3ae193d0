"""reetrace: product-flow traceability for rare earths.

The public API. The CLI, the demo, the benchmarks and the web service use only these names; anything
else is internal and may move. Open a store, load a registry, submit a month, trace a lot, audit, verify::

    import reetrace

    store = reetrace.open_store("sqlite:///reetrace.db")
    reetrace.load_registry(store, reetrace.parse_registry("registry.json"))
    result = reetrace.submit(store, "NMMINE-2025-03.jsonl", enterprise="NMMINE", period="2025-03")
    back = reetrace.trace_back(store, "NBMAG:MAG-2503-0042")
    audit = reetrace.run_audit(store, as_of=None)
    reetrace.verify(store)

Names are imported on first use (PEP 562), so ``import reetrace`` costs nothing until a name is
touched: the CLI's start-up depends on it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0.dev0"

#: public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    # the store
    "Store": ("reetrace.store", "Store"),
    "open_store": ("reetrace.store", "open_store"),
    "resolve_url": ("reetrace.store", "resolve_url"),
    "DEFAULT_URL": ("reetrace.store", "DEFAULT_URL"),
    "schema_revision": ("reetrace.store.migrate", "store_revision"),
    "verify": ("reetrace.store.verify", "verify"),
    "checkpoint": ("reetrace.store.verify", "checkpoint"),
    "Checkpoint": ("reetrace.store.verify", "Checkpoint"),
    "VerifyResult": ("reetrace.store.verify", "VerifyResult"),
    # the transparency log (docs/transparency-log.md)
    "load_log_key": ("reetrace.tlog.keys", "load_key"),
    "latest_checkpoint": ("reetrace.transparency", "latest_checkpoint"),
    "receipt_for": ("reetrace.transparency", "receipt_for"),
    "consistency_proof": ("reetrace.transparency", "consistency_proof"),
    "inclusion_proof": ("reetrace.transparency", "inclusion_proof"),
    # the contract
    "Event": ("reetrace.models", "Event"),
    "Registry": ("reetrace.models", "Registry"),
    "Period": ("reetrace.periods", "Period"),
    "SHANGHAI": ("reetrace.periods", "SHANGHAI"),
    # what comes in
    "submit": ("reetrace.intake.submit", "submit"),
    "SubmissionResult": ("reetrace.intake.submit", "SubmissionResult"),
    "read_events": ("reetrace.intake.files", "read_events"),
    "parse_registry": ("reetrace.intake.registry", "parse_registry"),
    "load_registry": ("reetrace.intake.registry", "load"),
    "show_registry": ("reetrace.intake.registry", "show"),
    "RegistryLoad": ("reetrace.intake.registry", "LoadResult"),
    "load_dataset": ("reetrace.intake.dataset", "load_dataset"),
    "read_manifest": ("reetrace.intake.dataset", "read_manifest"),
    # EPCIS 2.0
    "export_epcis": ("reetrace.epcis.store_export", "export_epcis"),
    "attach_foreign": ("reetrace.epcis.attach", "attach_foreign"),
    "AttachResult": ("reetrace.epcis.attach", "AttachResult"),
    "capture_epcis": ("reetrace.epcis.capture", "capture"),
    "query_epcis": ("reetrace.epcis.capture", "query_events"),
    "CaptureJob": ("reetrace.epcis.capture", "CaptureJob"),
    "QueryParameterError": ("reetrace.epcis.capture", "QueryParameterError"),
    "import_epcis": ("reetrace.epcis.submission", "import_epcis"),
    # reading
    "lot_report": ("reetrace.inspection", "lot_report"),
    "list_events": ("reetrace.inspection", "list_events"),
    "search_lots": ("reetrace.search", "search_lots"),
    "similar_lots": ("reetrace.search", "similar_lots"),
    "LotSearch": ("reetrace.search", "LotSearch"),
    # trace
    "trace_back": ("reetrace.trace", "trace_back"),
    "trace_forward": ("reetrace.trace", "trace_forward"),
    "BackTrace": ("reetrace.trace", "BackTrace"),
    "ForwardTrace": ("reetrace.trace", "ForwardTrace"),
    "trace_graph": ("reetrace.trace.graph", "as_graph"),
    "graph_to_dot": ("reetrace.trace.graph", "to_dot"),
    "graph_to_graphml": ("reetrace.trace.graph", "to_graphml"),
    "render_picture": ("reetrace.trace.picture", "render_picture"),
    "PICTURE_MAX_NODES": ("reetrace.trace.picture", "MAX_NODES"),
    "print_trace": ("reetrace.trace.text", "print_trace"),
    # audit
    "run_audit": ("reetrace.audit", "run_audit"),
    "findings_for": ("reetrace.audit", "findings_for"),
    "audit_findings": ("reetrace.audit.for_trace", "audit_findings"),
    "quota_report": ("reetrace.audit", "quota_report"),
    "submissions_status": ("reetrace.audit", "submissions_status"),
    "AuditResult": ("reetrace.audit", "AuditResult"),
    "Finding": ("reetrace.audit", "Finding"),
    "Tolerances": ("reetrace.audit", "Tolerances"),
    "RULES": ("reetrace.audit", "RULES"),
    "SavedAudit": ("reetrace.audit.saved", "SavedAudit"),
    "audit_and_save": ("reetrace.audit.saved", "audit_and_save"),
    "latest_audit": ("reetrace.audit.saved", "latest_audit"),
    # generated data
    "generate_dataset": ("reetrace.generate", "generate"),
    "INJECTION_KINDS": ("reetrace.generate", "KINDS"),
    "run_demo": ("reetrace.demo", "run_demo"),
    # principals, tokens and what each may see (the service)
    "add_principal": ("reetrace.principals", "add_principal"),
    "issue_token": ("reetrace.principals", "issue_token"),
    "revoke_token": ("reetrace.principals", "revoke_token"),
    "authenticate": ("reetrace.principals", "authenticate"),
    "list_principals": ("reetrace.principals", "list_principals"),
    "has_admin": ("reetrace.principals", "has_admin"),
    "Principal": ("reetrace.principals", "Principal"),
    "IssuedToken": ("reetrace.principals", "IssuedToken"),
    "PrincipalError": ("reetrace.principals", "PrincipalError"),
    "ROLES": ("reetrace.principals", "ROLES"),
    "list_submissions": ("reetrace.receipts", "list_submissions"),
    "submission_receipt": ("reetrace.receipts", "submission_receipt"),
    "lot_holders": ("reetrace.disclosure", "lot_holders"),
    "origin_summary": ("reetrace.disclosure", "origin_summary"),
    "own_lot_report": ("reetrace.disclosure", "own_lot_report"),
    "find_lots": ("reetrace.inspection", "find_lots"),
    # errors
    "ReetraceError": ("reetrace.errors", "ReetraceError"),
    "InputError": ("reetrace.errors", "InputError"),
    "Problem": ("reetrace.errors", "Problem"),
    "NotRegistered": ("reetrace.errors", "NotRegistered"),
    "StoreError": ("reetrace.errors", "StoreError"),
    "NoStore": ("reetrace.errors", "NoStore"),
    "Busy": ("reetrace.errors", "Busy"),
    "Unavailable": ("reetrace.errors", "Unavailable"),
    "Refused": ("reetrace.errors", "Refused"),
    "VerificationFailed": ("reetrace.errors", "VerificationFailed"),
    "LotNotFound": ("reetrace.errors", "LotNotFound"),
    # texts for people: English, with their template for other languages (the workbench)
    "Message": ("reetrace.messages", "Message"),
    "reason_of": ("reetrace.messages", "reason_of"),
}

__all__ = [
    "DEFAULT_URL",
    "INJECTION_KINDS",
    "PICTURE_MAX_NODES",
    "ROLES",
    "RULES",
    "SHANGHAI",
    "AttachResult",
    "AuditResult",
    "BackTrace",
    "Busy",
    "CaptureJob",
    "Checkpoint",
    "Event",
    "Finding",
    "ForwardTrace",
    "InputError",
    "IssuedToken",
    "LotNotFound",
    "LotSearch",
    "Message",
    "NoStore",
    "NotRegistered",
    "Period",
    "Principal",
    "PrincipalError",
    "Problem",
    "QueryParameterError",
    "ReetraceError",
    "Refused",
    "Registry",
    "RegistryLoad",
    "SavedAudit",
    "Store",
    "StoreError",
    "SubmissionResult",
    "Tolerances",
    "Unavailable",
    "VerificationFailed",
    "VerifyResult",
    "__version__",
    "add_principal",
    "attach_foreign",
    "audit_and_save",
    "audit_findings",
    "authenticate",
    "capture_epcis",
    "checkpoint",
    "consistency_proof",
    "export_epcis",
    "find_lots",
    "findings_for",
    "generate_dataset",
    "graph_to_dot",
    "graph_to_graphml",
    "has_admin",
    "import_epcis",
    "inclusion_proof",
    "issue_token",
    "latest_audit",
    "latest_checkpoint",
    "list_events",
    "list_principals",
    "list_submissions",
    "load_dataset",
    "load_log_key",
    "load_registry",
    "lot_holders",
    "lot_report",
    "open_store",
    "origin_summary",
    "own_lot_report",
    "parse_registry",
    "print_trace",
    "query_epcis",
    "quota_report",
    "read_events",
    "read_manifest",
    "reason_of",
    "receipt_for",
    "render_picture",
    "resolve_url",
    "revoke_token",
    "run_audit",
    "run_demo",
    "schema_revision",
    "search_lots",
    "show_registry",
    "similar_lots",
    "submission_receipt",
    "submissions_status",
    "submit",
    "trace_back",
    "trace_forward",
    "trace_graph",
    "verify",
]


if not TYPE_CHECKING:
    # Hidden from type checkers: they see the eager imports below, so a misspelt ``reetrace.X``
    # is an error for mypy instead of an ``Any`` from ``__getattr__``.

    def __getattr__(name: str) -> Any:
        try:
            module, attr = _EXPORTS[name]
        except KeyError:
            raise AttributeError(f"module 'reetrace' has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # the next access is a plain module attribute
        return value

    def __dir__() -> list[str]:
        return __all__


if TYPE_CHECKING:  # the same names, eagerly, for type checkers
    from reetrace.audit import (
        RULES,
        AuditResult,
        Finding,
        Tolerances,
        findings_for,
        quota_report,
        run_audit,
        submissions_status,
    )
    from reetrace.audit.for_trace import audit_findings
    from reetrace.audit.saved import SavedAudit, audit_and_save, latest_audit
    from reetrace.demo import run_demo
    from reetrace.disclosure import lot_holders, origin_summary, own_lot_report
    from reetrace.epcis.attach import AttachResult, attach_foreign
    from reetrace.epcis.capture import CaptureJob, QueryParameterError
    from reetrace.epcis.capture import capture as capture_epcis
    from reetrace.epcis.capture import query_events as query_epcis
    from reetrace.epcis.store_export import export_epcis
    from reetrace.epcis.submission import import_epcis
    from reetrace.errors import (
        Busy,
        InputError,
        LotNotFound,
        NoStore,
        NotRegistered,
        Problem,
        ReetraceError,
        Refused,
        StoreError,
        Unavailable,
        VerificationFailed,
    )
    from reetrace.generate import KINDS as INJECTION_KINDS
    from reetrace.generate import generate as generate_dataset
    from reetrace.inspection import find_lots, list_events, lot_report
    from reetrace.intake.dataset import load_dataset, read_manifest
    from reetrace.intake.files import read_events
    from reetrace.intake.registry import LoadResult as RegistryLoad
    from reetrace.intake.registry import load as load_registry
    from reetrace.intake.registry import parse_registry
    from reetrace.intake.registry import show as show_registry
    from reetrace.intake.submit import SubmissionResult, submit
    from reetrace.messages import Message, reason_of
    from reetrace.models import Event, Registry
    from reetrace.periods import SHANGHAI, Period
    from reetrace.principals import (
        ROLES,
        IssuedToken,
        Principal,
        PrincipalError,
        add_principal,
        authenticate,
        has_admin,
        issue_token,
        list_principals,
        revoke_token,
    )
    from reetrace.receipts import list_submissions, submission_receipt
    from reetrace.search import LotSearch, search_lots, similar_lots
    from reetrace.store import DEFAULT_URL, Store, open_store, resolve_url
    from reetrace.store.migrate import store_revision as schema_revision
    from reetrace.store.verify import Checkpoint, VerifyResult, checkpoint, verify
    from reetrace.tlog.keys import load_key as load_log_key
    from reetrace.trace import BackTrace, ForwardTrace, trace_back, trace_forward
    from reetrace.trace.graph import as_graph as trace_graph
    from reetrace.trace.graph import to_dot as graph_to_dot
    from reetrace.trace.graph import to_graphml as graph_to_graphml
    from reetrace.trace.picture import MAX_NODES as PICTURE_MAX_NODES
    from reetrace.trace.picture import render_picture
    from reetrace.trace.text import print_trace
    from reetrace.transparency import consistency_proof, inclusion_proof, latest_checkpoint, receipt_for
