"""The audit against the dataset generator: a clean year is silent, every injected violation is found.

Ground truth (``ground_truth.json``) names each injection's rule, enterprise, lots and period. A
quota finding is held by the group (or the enterprise) the quota names, so it matches an injection
on the enterprise or its group. Side findings an injection cannot avoid (a laundered lot is also a
receive without a ship) must still point at the injection's enterprises or lots.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from reetrace.audit import Finding, run_audit
from reetrace.generate import KINDS, generate
from reetrace.store import Store
from tests.builders import load_generated

pytestmark = pytest.mark.slow

#: After the deadline of the generated year's last report.
AS_OF = datetime.fromisoformat("2026-02-01T00:00:00+08:00")


def groups_of(outdir: Path) -> dict[str, str]:
    reg = orjson.loads((outdir / "registry.json").read_bytes())
    return {e["code"]: e.get("group") or "" for e in reg["enterprises"]}


def matches(f: Finding, t: dict[str, Any], groups: dict[str, str]) -> bool:
    if f.rule != t["rule"]:
        return False
    if f.enterprise not in (t["enterprise"], groups.get(t["enterprise"])):
        return False
    if f.lots and t["lots"] and not set(f.lots) & set(t["lots"]):
        return False
    return f.period is None or f.period == t["period"]


def explained(f: Finding, truth: list[dict[str, Any]], groups: dict[str, str]) -> bool:
    for t in truth:
        parties = {t["enterprise"], groups.get(t["enterprise"])}
        parties |= {lot.partition(":")[0] for lot in t["lots"]}
        if f.enterprise in parties or f.enterprise in t["detail"] or set(f.lots) & set(t["lots"]):
            return True
    return False


def test_clean_generated_year_has_no_findings(store: Store, tmp_path: Path) -> None:
    summary = generate(tmp_path / "data", year=2025, months=12, scale=1.0, seed=7)
    assert summary.events > 1000
    assert load_generated(store, tmp_path / "data") == []
    result = run_audit(store, as_of=AS_OF)
    assert [f.summary for f in result.findings] == []


def test_every_injected_violation_is_found(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "data"
    generate(out, year=2025, months=12, scale=1.0, seed=11, inject=["all"])
    truth = load_generated(store, out)
    assert {t["kind"] for t in truth} == set(KINDS)
    groups = groups_of(out)
    findings = run_audit(store, as_of=AS_OF).findings
    missed = [t for t in truth if not any(matches(f, t, groups) for f in findings)]
    assert missed == []
    unexplained = [f.summary for f in findings if not explained(f, truth, groups)]
    assert unexplained == []
