"""Rule 6, ``quota_exceeded``, and the quota report (``reetrace quota report``).

Use, in kg REO, per year (the year of the event's period):

- mining: the REO of the outputs of effective ``extract`` events;
- separation: the REO of the inputs of effective ``process``/``separation`` events (drawn mass × the
  source lot's REO per kg), imported feed included. Feed counts as *imported* when the input lot was
  created by an ``import`` event, or by a ``receive`` whose input was (following receive hops only, at
  most :data:`CUSTODY_HOPS`: importer → trader → separator). Imported material that was transformed
  before separation (blended, beneficiated) is not followed: that would need the trace's attribution.

A quota holder is a group or an enterprise; its quota for a year and category is the sum of that year's
batches in the current registry, and its use is the use of the enterprises whose code or group is the
holder. A finding (severity high) when use > quota × (1 + ``quota``) [0], and when an enterprise uses a
category for which neither it nor its group holds any quota that year. With ``--to`` the use counts up
to that period, so a year's quota can be found exhausted before December.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Finding
from reetrace.audit.scope import Scope
from reetrace.messages import M_, Message, word
from reetrace.store.schema import current_enterprises, current_groups, current_quotas

CATEGORIES = ("mining", "separation")
#: Receive hops followed upstream from a separation input to find an import entry.
CUSTODY_HOPS = 4


@dataclass(frozen=True)
class Use:
    year: int
    enterprise: str
    category: str
    reo_kg: float
    imported_kg: float


def uses(conn: Connection, scope: Scope) -> list[Use]:
    """Use per year, enterprise and category within the scope's period range."""
    bounds = ""
    if scope.period_from is not None:
        bounds += " AND s.period >= :yfrom"
    if scope.period_to is not None:
        bounds += " AND s.period <= :pto"
    sql = f"""
    WITH RECURSIVE sep AS (
        SELECT e.enterprise, substr(s.period, 1, 4) AS yr, i.lot,
               i.mass_kg * l.reo_kg / l.mass_kg AS reo
        FROM effective_events e JOIN submissions s ON s.position = e.submission
        JOIN inputs i ON i.position = e.position JOIN effective_lots l ON l.lot = i.lot
        WHERE e.type = 'process' AND e.process = 'separation' {bounds}
    ),
    walk(root, lot, depth) AS (
        SELECT DISTINCT lot, lot, 0 FROM sep
        UNION
        SELECT w.root, d.src, w.depth + 1
        FROM walk w JOIN effective_edges d ON d.dst = w.lot JOIN events c ON c.position = d.position
        WHERE c.type = 'receive' AND w.depth < {CUSTODY_HOPS}
    ),
    imported AS (
        SELECT DISTINCT w.root FROM walk w JOIN effective_lots l ON l.lot = w.lot
        JOIN events c ON c.position = l.position WHERE c.type = 'import'
    )
    SELECT sep.yr AS year, sep.enterprise AS enterprise, 'separation' AS category, sum(sep.reo) AS reo_kg,
           sum(CASE WHEN im.root IS NOT NULL THEN sep.reo ELSE 0 END) AS imported_kg
    FROM sep LEFT JOIN imported im ON im.root = sep.lot
    GROUP BY sep.yr, sep.enterprise
    UNION ALL
    SELECT substr(s.period, 1, 4), e.enterprise, 'mining', sum(l.reo_kg), 0.0
    FROM effective_events e JOIN submissions s ON s.position = e.submission
    JOIN lots l ON l.position = e.position
    WHERE e.type = 'extract' {bounds}
    GROUP BY substr(s.period, 1, 4), e.enterprise
    """
    yfrom = f"{scope.period_from[:4]}-01" if scope.period_from else None
    return [
        Use(int(r.year), r.enterprise, r.category, float(r.reo_kg or 0.0), float(r.imported_kg or 0.0))
        for r in conn.execute(sa.text(sql), scope.params(yfrom=yfrom))
    ]


@dataclass(frozen=True)
class QuotaRow:
    year: int
    holder: str
    kind: str  # "group" or "enterprise"
    name: str
    group: str | None
    mining_quota_t: float | None
    mining_use_t: float
    separation_quota_t: float | None
    separation_use_t: float
    separation_imported_t: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _registry(conn: Connection) -> tuple[dict[str, tuple[str, str | None]], dict[str, str]]:
    ce, cg = current_enterprises.c, current_groups.c
    enterprises = {r.code: (r.name, r.grp) for r in conn.execute(sa.select(ce.code, ce.name, ce.grp))}
    groups = {r.code: r.name for r in conn.execute(sa.select(cg.code, cg.name))}
    return enterprises, groups


def _quotas(conn: Connection) -> dict[tuple[int, str, str], float]:
    q = current_quotas.c
    total = sa.func.sum(q.tonnes_reo).label("tonnes_reo")
    sql = sa.select(q.year, q.holder, q.category, total).group_by(q.year, q.holder, q.category)
    return {(int(r.year), r.holder, r.category): float(r.tonnes_reo) for r in conn.execute(sql)}


def quota_table(conn: Connection, scope: Scope) -> list[QuotaRow]:
    """Quota against use per year for every group and every enterprise with a quota or a use."""
    enterprises, groups = _registry(conn)
    quotas = _quotas(conn)
    use: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    years: set[int] = {y for (y, _, _) in quotas}
    for u in uses(conn, scope):
        years.add(u.year)
        grp = enterprises.get(u.enterprise, ("", None))[1]
        for holder in {u.enterprise, grp} - {None}:
            acc = use[(u.year, str(holder), u.category)]
            acc[0] += u.reo_kg
            acc[1] += u.imported_kg
    rows = []
    for year in sorted(years):
        holders = {h for (y, h, _) in quotas if y == year} | {h for (y, h, _) in use if y == year}
        for holder in sorted(holders):
            kind = "group" if holder in groups and holder not in enterprises else "enterprise"
            name = groups.get(holder) or enterprises.get(holder, (holder, None))[0]
            grp = enterprises.get(holder, ("", None))[1]
            m, s = (
                use.get((year, holder, "mining"), [0.0, 0.0]),
                use.get((year, holder, "separation"), [0.0, 0.0]),
            )
            rows.append(
                QuotaRow(
                    year,
                    holder,
                    kind,
                    name,
                    grp if kind == "enterprise" else None,
                    quotas.get((year, holder, "mining")),
                    m[0] / 1000,
                    quotas.get((year, holder, "separation")),
                    s[0] / 1000,
                    s[1] / 1000,
                )
            )
    return rows


def quota_exceeded(conn: Connection, scope: Scope) -> list[Finding]:
    enterprises, _ = _registry(conn)
    rows = quota_table(conn, scope)
    held = {(r.year, r.holder, c) for r in rows for c in CATEGORIES if _quota(r, c) is not None}
    mine_group = enterprises.get(scope.enterprise or "", ("", None))[1]
    findings = []
    for r in rows:
        if scope.enterprise is not None and r.holder not in (scope.enterprise, mine_group):
            continue
        for cat in CATEGORIES:
            quota, used = _quota(r, cat), _use(r, cat)
            if used <= 0:
                continue
            imported = r.separation_imported_t if cat == "separation" else 0.0
            if quota is None:
                # Only an enterprise is checked for "no quota at all": a group's members are.
                if r.kind != "enterprise" or (r.year, r.group, cat) in held:
                    continue
                summary: Message = M_(
                    "{holder} used {used:.1f} t REO of {category} in {year} with no quota",
                    holder=r.holder, used=used, category=word(cat), year=r.year,
                )  # fmt: skip
                quota_t = 0.0
            elif used > quota * (1 + scope.tol.quota):
                summary = M_(
                    "{holder} {category} {year}: {used:.1f} t REO used, quota {quota:.1f} t "
                    "(+{excess_pct:.2f}%)",
                    holder=r.holder, category=word(cat), year=r.year, used=used, quota=quota,
                    excess_pct=(used - quota) / quota * 100 if quota else 100,
                )  # fmt: skip
                quota_t = quota
            else:
                continue
            findings.append(
                Finding(
                    rule="quota_exceeded",
                    severity="high",
                    enterprise=r.holder,
                    summary=summary,
                    period=None,
                    detail={
                        "year": r.year,
                        "holder_kind": r.kind,
                        "category": cat,
                        "quota_t": quota_t,
                        "use_t": round(used, 3),
                        "excess_t": round(used - quota_t, 3),
                        "imported_t": round(imported, 3),
                        "up_to": scope.period_to,
                    },
                )
            )
    return findings


def _quota(r: QuotaRow, cat: str) -> float | None:
    return r.mining_quota_t if cat == "mining" else r.separation_quota_t


def _use(r: QuotaRow, cat: str) -> float:
    return r.mining_use_t if cat == "mining" else r.separation_use_t
