"""The registry: groups, enterprises, sites and quotas, loaded from one JSON document
(docs/contract/files.md).

Loading appends a new version of each record that is new or changed and nothing else; records absent
from the file are left as they are (the registry is a history, not a snapshot to replace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Connection

from reetrace.errors import InputError, Problem
from reetrace.intake.files import location, message
from reetrace.models import Enterprise, Group, Quota, Registry, Site
from reetrace.store import Store
from reetrace.store.chain import canonical
from reetrace.store.derive import registry_row
from reetrace.store.schema import REGISTRY_TABLES

_KINDS: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("group", "groups", Group),
    ("enterprise", "enterprises", Enterprise),
    ("site", "sites", Site),
    ("quota", "quotas", Quota),
)


def _key(kind: str, rec: dict[str, Any]) -> tuple[Any, ...]:
    if kind == "quota":
        return (rec["year"], rec["batch"], rec["holder"], rec["category"])
    return (rec["code"],)


@dataclass
class LoadResult:
    added: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    position: int | None = None

    def message(self) -> str:
        if not self.added and not self.changed:
            return f"registry unchanged ({self.unchanged} records identical)"
        parts = [f"{n} {k} added" for k, n in self.added.items()]
        parts += [f"{n} {k} changed" for k, n in self.changed.items()]
        return f"registry: {', '.join(parts)}; {self.unchanged} unchanged (up to position {self.position})"


def parse_registry(path: str) -> Registry:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(0, "", "no such file", path)], file=path) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        line = raw[: exc.pos].count(b"\n") + 1
        raise InputError([Problem(line, "", f"not valid JSON: {exc.msg}", path)], file=path) from None
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(0, location(tuple(e["loc"])) or "registry", message(e), path)
            for e in exc.errors(include_url=False)
        ]
        raise InputError(problems, file=path) from None


def current(conn: Connection) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Current registry records per kind and key, in the file format."""
    out: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for kind, plural, model in _KINDS:
        # The records themselves, from the log: the tables hold only the columns trace and audit
        # need (an enterprise's signing keys, for one, live only in its record).
        rows = conn.execute(
            sa.text(
                f"SELECT l.body FROM current_{plural} c JOIN log l ON l.position = c.position "
                "ORDER BY c.position"
            )
        )
        recs = {}
        for (body,) in rows:
            rec = orjson.loads(bytes(body))["record"]
            recs[_key(kind, rec)] = model.model_validate(rec).model_dump(mode="json", exclude_none=True)
        out[kind] = recs
    return out


def load(store: Store, registry: Registry) -> LoadResult:
    """Append every new or changed record of ``registry``; one transaction."""
    result = LoadResult()
    with store.appending() as app:
        now = current(app.conn)
        for kind, plural, _model in _KINDS:
            for obj in getattr(registry, plural):
                rec = obj.model_dump(mode="json", exclude_none=True)
                prev = now[kind].get(_key(kind, rec))
                if prev == rec:
                    result.unchanged += 1
                    continue
                bucket = result.changed if prev is not None else result.added
                bucket[plural] = bucket.get(plural, 0) + 1
                pos = app.append(kind, canonical(rec))
                app.add(REGISTRY_TABLES[kind], registry_row(kind, pos, rec))
        result.position = app.position
    return result


def show(store: Store) -> dict[str, list[dict[str, Any]]]:
    with store.reading() as conn:
        now = current(conn)
    return {plural: list(now[kind].values()) for kind, plural, _ in _KINDS}
