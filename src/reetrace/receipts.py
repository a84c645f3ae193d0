"""Submissions as their submitters and inspectors see them: the envelopes of a period, and a receipt.

A receipt is read back from the log, not from the request that made it: the envelope's position and
link in the hash chain, the positions of its events, the digest of the file, the time of receipt the
server decided (and whether an admin gave it), whether it was late, and who submitted it.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from reetrace.periods import Period
from reetrace.store import Store
from reetrace.store.schema import events, inputs, log, lots, submissions


def _envelope(body: bytes) -> dict[str, Any]:
    rec: dict[str, Any] = orjson.loads(body)["record"]
    return rec


def list_submissions(store: Store, period: str, enterprise: str | None = None) -> list[dict[str, Any]]:
    """Every submission envelope of ``period`` (of one enterprise, if given), in log order."""
    per = str(Period.parse(period))
    q = (
        sa.select(submissions.c.position, log.c.body, sa.func.count(events.c.position))
        .join(log, log.c.position == submissions.c.position)
        .outerjoin(events, events.c.submission == submissions.c.position)
        .where(submissions.c.period == per)
        .group_by(submissions.c.position, log.c.body)
        .order_by(submissions.c.position)
    )
    if enterprise is not None:
        q = q.where(submissions.c.enterprise == enterprise)
    with store.reading() as conn:
        rows = conn.execute(q).all()
    return [{"position": int(pos), "events": int(n), **_envelope(bytes(body))} for pos, body, n in rows]


def submission_receipt(store: Store, position: int) -> dict[str, Any] | None:
    """The receipt of the submission whose envelope is at ``position``; None if there is none."""
    with store.reading() as conn:
        row = conn.execute(
            sa.select(log.c.kind, log.c.body, log.c.hash).where(log.c.position == position)
        ).first()
        if row is None or row[0] != "submission":
            return None
        first, last, n = conn.execute(
            sa.select(sa.func.min(events.c.position), sa.func.max(events.c.position), sa.func.count()).where(
                events.c.submission == position
            )
        ).one()
        lines = sum(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t)
                .join(events, events.c.position == t.c.position)
                .where(events.c.submission == position)
            ).scalar_one()
            for t in (lots, inputs)
        )
        end = int(last) if last is not None else position
        end_hash = conn.execute(sa.select(log.c.hash).where(log.c.position == end)).scalar_one()
    env = _envelope(bytes(row[1]))
    return {
        "position": position,
        "enterprise": env["enterprise"],
        "period": env["period"],
        "source": env["source"],
        "digest": env["digest"],
        "received_at": env["received_at"],
        "received_at_given": env["received_at_given"],
        "deadline": env["deadline"],
        "late": env["late"],
        "submitter": env.get("submitter"),
        "events": {"count": int(n), "first": first, "last": last},
        "lot_lines": int(lines),
        "chain": {
            "envelope_hash": bytes(row[2]).hex(),
            "end_position": end,
            "end_hash": bytes(end_hash).hex(),
        },
    }


__all__ = ["list_submissions", "submission_receipt"]
