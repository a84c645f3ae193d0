"""Receive pairs: re-derive the edges of receives recorded when a receive was still a blend.

Until 2026-11-28 every input of a ``receive`` fed every output (edges input × output, each with the
drawn mass). A receive now pairs each output with one input (docs/contract/events.md, "receive: pairs,
never a blend"); :func:`reetrace.store.derive.receive_edges` derives its edges, for the writers and for
``verify`` alike. Only receives with several inputs can differ: those with as many outputs as inputs
now pair by position; those whose counts differ (no ``from`` existed then) keep their blend, which is
exactly what ``receive_edges`` derives for them. So this migration re-derives, from their log frames,
the edges of every receive with more than one input and replaces the stored ones where they differ.

The edges table is append-only by triggers (revision 0001). The migration runs as the schema owner, in
the migration's one transaction: it lifts the triggers on ``edges`` only, replaces the rows, and puts
the triggers back before the transaction commits, so no other session ever sees the table unguarded.
The log itself is not touched: the chain and every record stay as they were.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

from reetrace.store.derive import receive_edges

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CANDIDATES = """
SELECT g.position, g.body FROM log g JOIN events e ON e.position = g.position
WHERE e.type = 'receive' AND (SELECT count(*) FROM inputs i WHERE i.position = e.position) > 1
ORDER BY g.position
"""


def _sqlite_guards(create: bool) -> None:
    # The same triggers as revision 0001 creates for edges.
    for op_name in ("UPDATE", "DELETE"):
        name = f"edges_no_{op_name.lower()}"
        if create:
            op.execute(
                f'CREATE TRIGGER {name} BEFORE {op_name} ON "edges" BEGIN '
                f"SELECT RAISE(ABORT, 'reetrace: {op_name} on edges refused: the log is append-only'); "
                "END"
            )
        else:
            op.execute(f"DROP TRIGGER {name}")


def upgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    changed: list[tuple[int, list[tuple[str, str, float]]]] = []
    for position, body in conn.execute(sa.text(_CANDIDATES)).fetchall():
        rec = orjson.loads(bytes(body))["record"]
        want = receive_edges(int(position), rec.get("inputs") or (), rec.get("outputs") or ())
        have = conn.execute(
            sa.text("SELECT position, src, dst, mass_kg FROM edges WHERE position = :p"), {"p": position}
        ).fetchall()
        if sorted(map(tuple, have)) != sorted(want):
            changed.append((int(position), [(r[1], r[2], r[3]) for r in want]))
    if not changed:
        return
    if postgres:
        op.execute("ALTER TABLE edges DISABLE TRIGGER edges_append_only")
    else:
        _sqlite_guards(create=False)
    delete = sa.text("DELETE FROM edges WHERE position = :p")
    insert = sa.text("INSERT INTO edges (position, src, dst, mass_kg) VALUES (:p, :s, :d, :m)")
    for position, rows in changed:
        conn.execute(delete, {"p": position})
        conn.execute(insert, [{"p": position, "s": s, "d": d, "m": m} for s, d, m in rows])
    if postgres:
        op.execute("ALTER TABLE edges ENABLE TRIGGER edges_append_only")
    else:
        _sqlite_guards(create=True)


def downgrade() -> None:
    raise NotImplementedError("reetrace never drops recorded history")
