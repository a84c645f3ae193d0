"""Rule 5, ``unauthorised_actor``: someone did what the registry does not allow them to do.

One finding per effective event and reason (severity high), judged against the *current* registry
(the registry keeps versions but no validity dates, so "approved at the time" cannot be told apart from
"approved since"):

- ``mining_not_approved``: an ``extract`` by an enterprise that is not approved or lacks the ``mining``
  role;
- ``unlicensed_mine``: an ``extract`` at a site that is not a ``mine`` with a licence;
- ``separation_not_approved``: a ``process``/``separation`` by an enterprise that is not approved or lacks
  the ``separation`` role;
- ``recycler_mineral_feed``: a ``process`` drawing ore or concentrate that is either a ``recycling``
  process or run by a recycler (an enterprise with the ``recycling`` role and neither ``mining`` nor
  ``separation``);
- ``toll_processing``: a ``process`` with a counterparty (processing another enterprise's material);
- ``unregistered_counterparty``: a ``ship``, ``receive``, ``export`` or ``process`` naming a counterparty
  that is not in the registry (the submission records it, docs/contract/submissions.md; custody
  matching leaves it out).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reetrace.audit.finding import Finding
from reetrace.audit.scope import Scope, event_lots
from reetrace.messages import N_, Message, word

_SUMMARY = {
    "mining_not_approved": N_("{ent} mined without approval for mining"),
    "unlicensed_mine": N_("{ent} mined at {site}, which is not a licensed mine"),
    "separation_not_approved": N_("{ent} ran a separation without approval for separation"),
    "recycler_mineral_feed": N_("recycler {ent} processed mineral feed (ore or concentrate)"),
    "toll_processing": N_("{ent} processed material of {cp} (toll processing)"),
    "unregistered_counterparty": N_("{ent} recorded a {type} with {cp}, who is not in the registry"),
}


def _role(col: str, role: str) -> str:
    return f"(' ' || {col} || ' ') LIKE '% {role} %'"


def unauthorised_actor(conn: Connection, scope: Scope) -> list[Finding]:
    base = f"""
        FROM effective_events e JOIN submissions s ON s.position = e.submission
        LEFT JOIN current_enterprises ce ON ce.code = e.enterprise
        WHERE 1 = 1 {scope.period("s.period")} {scope.ent("e.enterprise")}
          {scope.focus(positions=["e.position"])}"""
    cols = "e.position, e.enterprise, e.type, e.site, e.counterparty, s.period"
    mineral = """EXISTS (SELECT 1 FROM inputs i JOIN effective_lots l ON l.lot = i.lot
        WHERE i.position = e.position AND l.form IN ('ore', 'concentrate'))"""
    recycler = (
        f"({_role('ce.roles', 'recycling')} AND NOT {_role('ce.roles', 'mining')} "
        f"AND NOT {_role('ce.roles', 'separation')})"
    )
    sql = f"""
    SELECT 'mining_not_approved' AS kind, {cols} {base} AND e.type = 'extract'
      AND (ce.code IS NULL OR NOT ce.approved OR NOT {_role("ce.roles", "mining")})
    UNION ALL
    SELECT 'unlicensed_mine', {cols} {base} AND e.type = 'extract' AND NOT EXISTS (
        SELECT 1 FROM current_sites cs WHERE cs.code = e.site AND cs.enterprise = e.enterprise
          AND cs.kind = 'mine' AND cs.licence IS NOT NULL)
    UNION ALL
    SELECT 'separation_not_approved', {cols} {base} AND e.type = 'process'
      AND e.process = 'separation'
      AND (ce.code IS NULL OR NOT ce.approved OR NOT {_role("ce.roles", "separation")})
    UNION ALL
    SELECT 'recycler_mineral_feed', {cols} {base} AND e.type = 'process'
      AND (e.process = 'recycling' OR {recycler}) AND {mineral}
    UNION ALL
    SELECT 'toll_processing', {cols} {base} AND e.type = 'process' AND e.counterparty IS NOT NULL
    UNION ALL
    SELECT 'unregistered_counterparty', {cols} {base} AND e.counterparty IS NOT NULL
      AND e.counterparty NOT IN (SELECT code FROM enterprises)
    ORDER BY 2, 1
    """
    rows = list(conn.execute(sa.text(sql), scope.params()))
    lots = event_lots(conn, scope, (int(r.position) for r in rows))
    findings = []
    for r in rows:
        kind, pos, ent, type_, site, cp, period = (
            r.kind, r.position, r.enterprise, r.type, r.site, r.counterparty, r.period
        )  # fmt: skip
        findings.append(
            Finding(
                rule="unauthorised_actor",
                severity="high",
                enterprise=ent,
                summary=Message(_SUMMARY[kind], {"ent": ent, "site": site, "cp": cp, "type": word(type_)}),
                lots=tuple(lots.get(int(pos), [])),
                events=(int(pos),),
                period=period,
                detail={"kind": kind, "event_type": type_, "site": site, "counterparty": cp},
            )
        )
    return findings
