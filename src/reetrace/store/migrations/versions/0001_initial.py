"""Initial schema: the log, derived tables, views, append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FACT_TABLES = (
    "log", "submissions", "events", "lots", "inputs", "edges", "retractions",
    "groups", "enterprises", "sites", "quotas",
)  # fmt: skip

VIEWS = {
    "current_groups": (
        "SELECT g.* FROM groups g WHERE g.position = "
        "(SELECT max(g2.position) FROM groups g2 WHERE g2.code = g.code)"
    ),
    "current_enterprises": (
        "SELECT e.* FROM enterprises e WHERE e.position = "
        "(SELECT max(e2.position) FROM enterprises e2 WHERE e2.code = e.code)"
    ),
    "current_sites": (
        "SELECT s.* FROM sites s WHERE s.position = "
        "(SELECT max(s2.position) FROM sites s2 WHERE s2.code = s.code)"
    ),
    "current_quotas": (
        "SELECT q.* FROM quotas q WHERE q.position = (SELECT max(q2.position) FROM quotas q2 "
        "WHERE q2.year = q.year AND q2.batch = q.batch AND q2.holder = q.holder "
        "AND q2.category = q.category)"
    ),
    "effective_events": (
        "SELECT e.* FROM events e WHERE e.type <> 'retract' AND NOT EXISTS "
        "(SELECT 1 FROM retractions r WHERE r.target = e.position)"
    ),
    "effective_lots": (
        "SELECT l.* FROM lots l WHERE NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = l.position)"
    ),
    "effective_inputs": (
        "SELECT i.* FROM inputs i WHERE NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = i.position)"
    ),
    "effective_edges": (
        "SELECT d.* FROM edges d WHERE NOT EXISTS (SELECT 1 FROM retractions r WHERE r.target = d.position)"
    ),
}


def _append_only() -> None:
    # The log is append-only in the database itself, not just in our code: a client that connects
    # with psql and types UPDATE gets refused too. (Dropping the triggers needs the table owner;
    # verify catches what is done after that.)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION reetrace_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'reetrace: % on % refused: the log is append-only', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        for t in FACT_TABLES:
            op.execute(
                f'CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON "{t}" '
                "FOR EACH ROW EXECUTE FUNCTION reetrace_refuse()"
            )
            op.execute(
                f'CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON "{t}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION reetrace_refuse()"
            )
    else:
        # SQLite has no TRUNCATE; its truncate optimisation of DELETE is disabled by a DELETE trigger.
        for t in FACT_TABLES:
            for op_name in ("UPDATE", "DELETE"):
                op.execute(
                    f'CREATE TRIGGER {t}_no_{op_name.lower()} BEFORE {op_name} ON "{t}" BEGIN '
                    f"SELECT RAISE(ABORT, 'reetrace: {op_name} on {t} refused: the log is append-only'); "
                    "END"
                )


def upgrade() -> None:
    op.create_table(
        "edges",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("src", sa.String(length=130), nullable=False),
        sa.Column("dst", sa.String(length=130), nullable=False),
        sa.Column("mass_kg", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("position", "src", "dst"),
    )
    op.create_index("ix_edges_dst", "edges", ["dst"], unique=False)
    op.create_index("ix_edges_src", "edges", ["src"], unique=False)
    op.create_table(
        "enterprises",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("grp", sa.String(length=64), nullable=True),
        sa.Column("province", sa.String(length=500), nullable=True),
        sa.Column("roles", sa.String(length=500), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_enterprises_code", "enterprises", ["code"], unique=False)
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("submission", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("enterprise", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counterparty", sa.String(length=64), nullable=True),
        sa.Column("process", sa.String(length=32), nullable=True),
        sa.Column("retracts", sa.String(length=128), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_events_enterprise_event_id", "events", ["enterprise", "event_id"], unique=False)
    op.create_index("ix_events_enterprise_occurred_at", "events", ["enterprise", "occurred_at"], unique=False)
    op.create_index("ix_events_submission", "events", ["submission"], unique=False)
    op.create_table(
        "groups",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_groups_code", "groups", ["code"], unique=False)
    op.create_table(
        "inputs",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=130), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("mass_kg", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("position", "idx"),
    )
    op.create_index("ix_inputs_lot", "inputs", ["lot"], unique=False)
    op.create_table(
        "log",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_table(
        "lots",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=130), nullable=False),
        sa.Column("enterprise", sa.String(length=64), nullable=False),
        sa.Column("product", sa.String(length=500), nullable=False),
        sa.Column("form", sa.String(length=16), nullable=False),
        sa.Column("mass_kg", sa.Double(), nullable=False),
        sa.Column("reo_pct", sa.Double(), nullable=True),
        sa.Column("re_metal_pct", sa.Double(), nullable=True),
        sa.Column("reo_kg", sa.Double(), nullable=False),
        sa.Column("La", sa.Double(), nullable=True),
        sa.Column("Ce", sa.Double(), nullable=True),
        sa.Column("Pr", sa.Double(), nullable=True),
        sa.Column("Nd", sa.Double(), nullable=True),
        sa.Column("Pm", sa.Double(), nullable=True),
        sa.Column("Sm", sa.Double(), nullable=True),
        sa.Column("Eu", sa.Double(), nullable=True),
        sa.Column("Gd", sa.Double(), nullable=True),
        sa.Column("Tb", sa.Double(), nullable=True),
        sa.Column("Dy", sa.Double(), nullable=True),
        sa.Column("Ho", sa.Double(), nullable=True),
        sa.Column("Er", sa.Double(), nullable=True),
        sa.Column("Tm", sa.Double(), nullable=True),
        sa.Column("Yb", sa.Double(), nullable=True),
        sa.Column("Lu", sa.Double(), nullable=True),
        sa.Column("Y", sa.Double(), nullable=True),
        sa.Column("Sc", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("position", "idx"),
    )
    op.create_index("ix_lots_lot", "lots", ["lot"], unique=False)
    op.create_table(
        "quotas",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("tonnes_reo", sa.Double(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_quotas_key", "quotas", ["year", "holder", "category", "batch"], unique=False)
    op.create_table(
        "retractions",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_retractions_target", "retractions", ["target"], unique=True)
    op.create_table(
        "sites",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("enterprise", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("licence", sa.String(length=64), nullable=True),
        sa.Column("capacity_t", sa.Double(), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("province", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_sites_code", "sites", ["code"], unique=False)
    op.create_table(
        "submissions",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("enterprise", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at_given", sa.Boolean(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_submissions_enterprise_period", "submissions", ["enterprise", "period"], unique=False)
    for name, sql in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")
    _append_only()


def downgrade() -> None:
    raise NotImplementedError("reetrace never drops recorded history")
