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
    #: kind -> codes of the records changed (a quota's code is YEAR/BATCH/HOLDER/CATEGORY)
    changed_codes: dict[str, list[str]] = field(default_factory=dict)
    #: kind -> how many records of that kind were identical to the store's
    unchanged_by_kind: dict[str, int] = field(default_factory=dict)

    def message(self) -> str:
        if not self.added and not self.changed:
            return f"registry unchanged ({self.unchanged} records identical)"
        parts = [f"{n} {k} added" for k, n in self.added.items()]
        parts += [f"{n} {k} changed ({', '.join(self.changed_codes.get(k, []))})"
                  for k, n in self.changed.items()]  # fmt: skip
        return f"registry: {', '.join(parts)}; {self.unchanged} unchanged (up to position {self.position})"

    def to_dict(self) -> dict[str, Any]:
        return {
            kind: {"added": self.added.get(kind, 0), "changed": self.changed.get(kind, 0),
                   "unchanged": self.unchanged_by_kind.get(kind, 0),
                   "changed_codes": self.changed_codes.get(kind, [])}
            for _k, kind, _m in _KINDS
        } | {"position": self.position}  # fmt: skip


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


def check_references(
    registry: Registry, now: dict[str, dict[tuple[Any, ...], dict[str, Any]]], source: str = ""
) -> None:
    """Every reference names a record of the same file or of the store, else InputError.

    A site's enterprise, an enterprise's group, a quota's holder (a group or an enterprise); each
    problem carries the JSON path of the bad reference, e.g. ``sites[3].enterprise``.
    """
    groups = {k[0] for k in now["group"]} | {g.code for g in registry.groups}
    ents = {k[0] for k in now["enterprise"]} | {e.code for e in registry.enterprises}
    problems: list[Problem] = []
    for i, e in enumerate(registry.enterprises):
        if e.group is not None and e.group not in groups:
            problems.append(Problem(0, f"enterprises[{i}].group",
                                    f"{e.group} is not a group of the registry", source))  # fmt: skip
    for i, s in enumerate(registry.sites):
        if s.enterprise not in ents:
            why = f"{s.enterprise} is not an enterprise of the registry"
            problems.append(Problem(0, f"sites[{i}].enterprise", why, source))
    for i, q in enumerate(registry.quotas):
        if q.holder not in groups | ents:
            why = f"{q.holder} is not a group or enterprise of the registry"
            problems.append(Problem(0, f"quotas[{i}].holder", why, source))
    if problems:
        raise InputError(problems, file=source)


def _code(kind: str, rec: dict[str, Any]) -> str:
    return "/".join(str(k) for k in _key(kind, rec))


def load(store: Store, registry: Registry, *, source: str = "") -> LoadResult:
    """Append every new or changed record of ``registry``; one transaction.

    Refuses (InputError, nothing written) a reference to a group, enterprise or quota holder that
    is neither in the file nor in the store.
    """
    result = LoadResult()
    with store.appending() as app:
        now = current(app.conn)
        check_references(registry, now, source)
        for kind, plural, _model in _KINDS:
            result.unchanged_by_kind.setdefault(plural, 0)
            for obj in getattr(registry, plural):
                rec = obj.model_dump(mode="json", exclude_none=True)
                prev = now[kind].get(_key(kind, rec))
                if prev == rec:
                    result.unchanged += 1
                    result.unchanged_by_kind[plural] += 1
                    continue
                bucket = result.changed if prev is not None else result.added
                bucket[plural] = bucket.get(plural, 0) + 1
                if prev is not None:
                    result.changed_codes.setdefault(plural, []).append(_code(kind, rec))
                pos = app.append(kind, canonical(rec))
                app.add(REGISTRY_TABLES[kind], registry_row(kind, pos, rec))
        result.position = app.position
    return result


def show(store: Store) -> dict[str, list[dict[str, Any]]]:
    with store.reading() as conn:
        now = current(conn)
    return {plural: list(now[kind].values()) for kind, plural, _ in _KINDS}
