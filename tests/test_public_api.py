"""The public API is what `reetrace/__init__.py` exports: pinned here, as httpx pins its own."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import reetrace
from reetrace.cli.common import DEFAULT_URL as CLI_DEFAULT_URL
from reetrace.store.migrate import HEAD, newest

EXPECTED = {
    "Busy", "BackTrace", "Checkpoint", "DEFAULT_URL", "Event", "Finding", "ForwardTrace",
    "INJECTION_KINDS", "InputError", "LotNotFound", "NotRegistered", "PICTURE_MAX_NODES", "Period",
    "Problem", "RULES", "ReetraceError", "Refused", "Registry", "RegistryLoad", "SHANGHAI", "Store",
    "StoreError", "SubmissionResult", "Tolerances", "AuditResult", "VerificationFailed", "VerifyResult",
    "__version__", "audit_findings", "checkpoint", "findings_for", "generate_dataset", "graph_to_dot",
    "graph_to_graphml", "list_events", "load_dataset", "load_registry", "lot_report", "open_store",
    "parse_registry", "print_trace", "quota_report", "read_events", "read_manifest", "render_picture",
    "resolve_url", "run_audit", "run_demo", "schema_revision", "show_registry", "submissions_status",
    "submit", "trace_back", "trace_forward", "trace_graph", "verify",
    # principals, tokens and what each may see (the service)
    "ROLES", "IssuedToken", "Principal", "PrincipalError", "add_principal", "authenticate", "has_admin",
    "issue_token", "list_principals", "revoke_token", "list_submissions", "submission_receipt",
    "lot_holders", "origin_summary", "own_lot_report", "find_lots",
}  # fmt: skip


def test_exported_names_are_pinned() -> None:
    assert set(reetrace.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in reetrace.__all__:
        assert getattr(reetrace, name) is not None, name


def test_unknown_names_raise_attribute_error() -> None:
    try:
        reetrace.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_version_matches_the_package_metadata() -> None:
    assert reetrace.__version__ == importlib.metadata.version("reetrace")


def test_importing_the_cli_loads_no_database_or_drawing_code() -> None:
    code = (
        "import sys, reetrace.cli; "
        "bad = [m for m in ('sqlalchemy', 'pydantic', 'matplotlib', 'alembic', 'rich', 'reetrace.audit') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_default_store_is_the_library_default() -> None:
    assert CLI_DEFAULT_URL == reetrace.DEFAULT_URL


def test_head_revision_constant_is_alembics_head() -> None:
    assert newest() == HEAD


def test_no_exported_name_is_shadowed_by_a_subpackage() -> None:
    import pkgutil

    subpackages = {m.name for m in pkgutil.iter_modules(reetrace.__path__)}
    assert not subpackages & set(reetrace.__all__)
