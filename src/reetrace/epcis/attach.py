"""A foreign supplier's EPCIS document, attached to an import entry: declared provenance behind customs.

Imported material enters the store as an ``import`` event naming its customs entry, and nothing before
it. A supplier abroad may send its own EPCIS events (its mine, its plant, its transformations with
masses, the shipment to China). ``attach_foreign`` records such a document against the import entry as
one log record of kind ``foreign`` (hash-chained like every record)::

    {"import_entry": "...", "source": "<file name>", "digest": "<SHA-256 of the bytes>",
     "document": {...the document...}}

and derives its accepted steps into ``foreign_links`` (:func:`reetrace.store.derive.foreign_rows`, which
``verify`` runs again). Each event is read by :func:`reetrace.epcis.foreign.parse_foreign`: accepted
into the chain, or refused with a reason (no masses, counted not weighed, declared in error, an
aggregation…). A document with nothing a trace can use is refused whole, every event with its reason.
A trace back then continues past the customs entry into the declared chain
(:mod:`reetrace.trace.declared`), marked as declared by the supplier and verified by no record of ours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.epcis.foreign import ProvenanceChain, Refusal, parse_foreign
from reetrace.errors import InputError, Problem
from reetrace.store.base import Store
from reetrace.store.chain import canonical
from reetrace.store.derive import foreign_rows
from reetrace.store.schema import foreign_links, log

KIND = "foreign"


@dataclass(frozen=True)
class AttachResult:
    import_entry: str
    importer: str
    source: str
    position: int | None  # None: this document was already attached to this entry
    origins: int
    transformations: int
    custody: int
    refused: list[Refusal] = field(default_factory=list)

    @property
    def noop(self) -> bool:
        return self.position is None

    def message(self) -> str:
        if self.noop:
            return f"nothing changed: {self.source} is already attached to import entry {self.import_entry}"
        lines = [
            f"attached {self.source} to import entry {self.import_entry} ({self.importer}) at position "
            f"{self.position}: {self.origins} origin(s), {self.transformations} transformation(s), "
            f"{self.custody} custody event(s); declared by the supplier, not verified"
        ]
        if not self.origins:
            lines.append("  the document declares no origin: a trace goes past the entry but finds no mine")
        lines += [f"  refused eventList[{r.index}] ({r.event_type}): {r.reason}" for r in self.refused]
        return "\n".join(lines)


def import_entries(conn: Connection) -> dict[str, str]:
    """Customs entry -> importer, over the effective ``import`` events."""
    q = sa.text(
        "SELECT g.body FROM effective_events e JOIN log g ON g.position = e.position "
        "WHERE e.type = 'import' ORDER BY e.position"
    )
    found: dict[str, str] = {}
    for (body,) in conn.execute(q):
        rec = orjson.loads(bytes(body))["record"]
        found[str(rec["origin"]["customs_entry"])] = str(rec["enterprise"])
    return found


def _already(conn: Connection, entry: str, digest: str) -> bool:
    q = sa.select(log.c.body).where(log.c.kind == KIND)
    for (body,) in conn.execute(q):
        rec = orjson.loads(bytes(body))["record"]
        if rec["import_entry"] == entry and rec["digest"] == digest:
            return True
    return False


def _refused_whole(chain: ProvenanceChain, name: str) -> InputError:
    problems = [Problem(r.index + 1, f"eventList[{r.index}]", f"{r.event_type}: {r.reason}", name)
                for r in chain.refused]  # fmt: skip
    if not problems:
        problems = [Problem(0, "epcisBody.eventList", "no events", name)]
    return InputError(problems, file=name)


def attach_foreign(
    store: Store, import_entry: str, document: bytes | Path | str, *, source_name: str | None = None
) -> AttachResult:
    """Record a supplier's EPCIS document as the declared provenance of ``import_entry``.

    Raises :class:`InputError` if the document is not an EPCISDocument, if no effective import names the
    entry, or if no event of it carries what a trace needs (each refused event with its reason).
    """
    if isinstance(document, bytes):
        raw, name = document, source_name or "<epcis>"
    else:
        raw, name = Path(document).read_bytes(), source_name or Path(document).name
    try:
        doc: Any = orjson.loads(raw)
        chain = parse_foreign(doc)
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise InputError([Problem(0, "", f"not an EPCIS document: {exc}", name)], file=name) from None
    if not (chain.origins or chain.transformations or chain.custody):
        raise _refused_whole(chain, name)
    digest = hashlib.sha256(raw).hexdigest()
    record = {"import_entry": import_entry, "source": name, "digest": digest, "document": doc}
    counts = (len(chain.origins), len(chain.transformations), len(chain.custody))
    with store.appending() as app:
        importer = import_entries(app.conn).get(import_entry)
        if importer is None:
            raise InputError(
                [
                    Problem(
                        0, "import_entry", f"no effective import event declares customs entry {import_entry}"
                    )
                ],
                file=name,
            )
        if _already(app.conn, import_entry, digest):
            return AttachResult(import_entry, importer, name, None, *counts, chain.refused)
        body = canonical(record)
        pos = app.append(KIND, body)
        app.extend(foreign_links, foreign_rows(pos, orjson.loads(body)))
    return AttachResult(import_entry, importer, name, pos, *counts, chain.refused)


__all__ = ["AttachResult", "attach_foreign", "import_entries"]
