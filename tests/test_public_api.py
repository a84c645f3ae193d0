"""The public API is what `reetrace/__init__.py` exports: pinned here, as httpx pins its own."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import reetrace
from reetrace.cli.common import DEFAULT_URL as CLI_DEFAULT_URL
from reetrace.store.migrate import HEAD, newest

EXPECTED = {
    "Busy", "BackTrace", "Checkpoint", "DEFAULT_URL", "Event", "Finding", "ForwardTrace",
    "INJECTION_KINDS", "InputError", "LotNotFound", "LotSearch", "NoStore", "NotRegistered", "PICTURE_MAX_NODES", "Period",
    "CaptureJob", "QueryParameterError", "capture_epcis", "query_epcis",
    "SavedAudit", "audit_and_save", "latest_audit",
    "Problem", "RULES", "ReetraceError", "Refused", "Registry", "RegistryLoad", "SHANGHAI", "Store",
    "StoreError", "SubmissionResult", "Tolerances", "Unavailable", "AuditResult", "VerificationFailed", "VerifyResult",
    "__version__", "AttachResult", "attach_foreign", "audit_findings", "checkpoint", "export_epcis", "findings_for", "generate_dataset", "graph_to_dot",
    "graph_to_graphml", "import_epcis", "list_events", "load_dataset", "load_registry", "lot_report", "open_store",
    "parse_registry", "print_trace", "quota_report", "read_events", "read_manifest", "render_picture",
    "resolve_url", "run_audit", "run_demo", "schema_revision", "search_lots", "show_registry", "similar_lots", "submissions_status",
    "submit", "trace_back", "trace_forward", "trace_graph", "verify",
    "latest_checkpoint", "receipt_for", "load_log_key", "consistency_proof", "inclusion_proof",
    # principals, tokens and what each may see (the service)
    "ROLES", "IssuedToken", "Principal", "PrincipalError", "add_principal", "authenticate", "has_admin",
    "issue_token", "list_principals", "revoke_token", "list_submissions", "submission_receipt",
    "lot_holders", "origin_summary", "own_lot_report", "find_lots",
    "Message", "reason_of",
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


def test_scripts_import_only_the_public_api() -> None:
    """The benchmarks use the library as its users do: ``import reetrace`` / ``from reetrace import``
    exported names, never a module inside it."""
    import ast
    from pathlib import Path

    scripts = sorted((Path(__file__).parent.parent / "scripts").glob("*.py"))
    assert scripts
    # Benchmarks of a part itself, not of the library as users call it: they build their reference
    # data (10M tree nodes, a million lot rows) below the API and time the part's own functions
    # (bench_messages: the workbench's say, over messages made by the library's templates).
    measures_a_part = {
        "bench_tlog.py",
        "bench_search.py",
        "bench_epcis.py",
        "bench_messages.py",
        "bench_web_year.py",
    }
    bad = []
    for path in scripts:
        if path.name in measures_a_part:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                bad += [f"{path.name}: import {a.name}" for a in node.names if a.name.startswith("reetrace.")]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reetrace"):
                if node.module != "reetrace":
                    bad.append(f"{path.name}: from {node.module} import ...")
                else:
                    bad += [f"{path.name}: {a.name}" for a in node.names if a.name not in reetrace.__all__]
    assert bad == []


def test_a_submit_loads_no_drawing_migration_or_table_code(tmp_path: Path) -> None:
    """``reetrace submit`` on a store at head: no Alembic (migrations are skipped), no rich (its progress
    bar only when shown, tables only when printed), no matplotlib, networkx or audit; no cryptography or
    verifier (only a signed submission or a receipt needs them), no multiprocessing or ctypes (a small
    file is parsed in-process, and SQLite never forks)."""
    examples = Path(__file__).parent.parent / "examples"
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = reetrace.open_store(url)
    reetrace.load_registry(store, reetrace.parse_registry(str(examples / "registry.json")))
    store.dispose()
    code = (
        "import sys\n"
        "from reetrace.cli import main\n"
        "try:\n"
        f"    main(['submit', {str(examples / 'NMMINE-2025-03.jsonl')!r}, '-e', 'NMMINE', '-p', '2025-03',\n"
        f"          '--received-at', '2025-04-08T09:30:00+08:00', '--historical', '--db', {url!r}, '-q'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('alembic', 'rich', 'matplotlib', 'networkx', 'reetrace.audit', 'reetrace.trace',\n"
        "         'cryptography', 'reetrace.verifier', 'reetrace.tlog.keys', 'multiprocessing', 'ctypes')\n"
        "print('heavy:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "recorded 2 events" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "heavy:"
