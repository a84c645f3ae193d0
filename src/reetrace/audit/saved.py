"""Saved audit runs: a whole-store audit kept with the log position it judged.

Auditing a national year takes tens of seconds (README, Benchmarks); an inspector's findings page must
answer in a fraction of one. So whole-store runs are saved (``reetrace audit --save``, or the
workbench's "run the audit now") and pages filter the latest saved run by rule, severity, enterprise
and period in memory. A saved run names the log position and chain link it was computed at, so a
reader knows what it covers and anyone can check it by auditing again; it is a conclusion, not a
record, and lives outside the hash chain.

A run also keeps the template and parameters of each finding's summary (``messages``, beside the
findings, so that the findings themselves read exactly as ``reetrace audit --json`` writes them): the
workbench shows them in the reader's language. A run saved before templates were kept has no
``messages`` and shows its summaries as they were written, in English.
"""

from __future__ import annotations

import gzip
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from reetrace.audit.finding import AuditResult
from reetrace.audit.runner import run_audit
from reetrace.messages import Message, restore
from reetrace.store import Store
from reetrace.store.schema import audit_runs


@dataclass(frozen=True)
class SavedAudit:
    id: str
    position: int
    head: str
    as_of: datetime
    created_at: datetime
    seconds: float
    findings: list[dict[str, Any]]
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "position": self.position, "head": self.head, "as_of": self.as_of.isoformat(),
            "created_at": self.created_at.isoformat(), "seconds": round(self.seconds, 3),
            "counts": self.counts, "findings": self.findings,
        }  # fmt: skip


def save_audit(store: Store, result: AuditResult, *, position: int, head: bytes, seconds: float) -> str:
    """Keep a whole-store run (no period or enterprise filter) computed at log ``position``."""
    if result.period_from or result.period_to or result.enterprise:
        raise ValueError("only a whole-store audit is saved (no --from, --to or --enterprise)")
    run_id = secrets.token_hex(8)
    data = result.to_dict()
    data["messages"] = [
        f.summary.to_dict() if isinstance(f.summary, Message) else None for f in result.findings
    ]
    body = gzip.compress(orjson.dumps(data), compresslevel=6)
    row = {
        "id": run_id, "position": position, "head": head.hex(), "as_of": result.as_of.isoformat(),
        "created_at": datetime.now(UTC).isoformat(), "seconds": seconds, "body": body,
    }  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(sa.insert(audit_runs).values(**row))
    return run_id


def audit_and_save(store: Store, *, as_of: datetime | None = None) -> SavedAudit:
    """Run the whole audit at the current head and save it; returns the saved run."""
    position, head = store.head()
    t0 = time.perf_counter()
    result = run_audit(store, as_of=as_of)
    seconds = time.perf_counter() - t0
    run_id = save_audit(store, result, position=position, head=head, seconds=seconds)
    saved = latest_audit(store)
    assert saved is not None and saved.id == run_id
    return saved


def latest_audit(store: Store) -> SavedAudit | None:
    """The most recently saved run, or None."""
    q = sa.select(audit_runs).order_by(audit_runs.c.created_at.desc(), audit_runs.c.id).limit(1)
    with store.reading() as conn:
        row = conn.execute(q).mappings().first()
    if row is None:
        return None
    data = orjson.loads(gzip.decompress(bytes(row["body"])))
    messages = data.get("messages")
    if isinstance(messages, list) and len(messages) == len(data["findings"]):
        for finding, message in zip(data["findings"], messages, strict=True):
            finding["summary"] = restore(finding["summary"], message)
    return SavedAudit(
        id=row["id"], position=int(row["position"]), head=row["head"],
        as_of=datetime.fromisoformat(row["as_of"]), created_at=datetime.fromisoformat(row["created_at"]),
        seconds=float(row["seconds"]), findings=data["findings"], counts=data["counts"],
    )  # fmt: skip


__all__ = ["SavedAudit", "audit_and_save", "latest_audit", "save_audit"]
