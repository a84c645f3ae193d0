"""The verifier stands apart from the prover: it must not import reetrace.tlog (nor the store)."""

from __future__ import annotations

import ast
from pathlib import Path

import reetrace.verifier

PACKAGE = Path(reetrace.verifier.__file__).parent
ALLOWED = ("reetrace.verifier", "cryptography", "__future__")
STDLIB = ("base64", "binascii", "hashlib", "json", "re", "collections", "dataclasses", "typing")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names.append(node.module or "")
    return names


def test_the_verifier_imports_only_itself_the_standard_library_and_cryptography() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for name in _imports(path):
            assert not name.startswith("reetrace.tlog"), f"{path.name} imports {name}"
            assert name.startswith(ALLOWED) or name.split(".")[0] in STDLIB, f"{path.name} imports {name}"


def test_the_check_would_catch_an_import_of_the_prover(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from reetrace.tlog import merkle\nimport reetrace.tlog.keys\n")
    assert _imports(bad) == ["reetrace.tlog", "reetrace.tlog.keys"]
