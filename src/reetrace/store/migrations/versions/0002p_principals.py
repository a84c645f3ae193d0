"""Principals, tokens and revocations: who may use the service, derived from log records.

(Named 0002p and chained after 0001 on the service branch; the integrator re-chains the migrations of
parallel branches.)

Revision ID: 0002p
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002p"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("principals", "tokens", "revocations")


def _append_only() -> None:
    # The same refusal as 0001's fact tables (its PostgreSQL function reetrace_refuse() exists).
    if op.get_bind().dialect.name == "postgresql":
        for t in TABLES:
            op.execute(
                f'CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON "{t}" '
                "FOR EACH ROW EXECUTE FUNCTION reetrace_refuse()"
            )
            op.execute(
                f'CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON "{t}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION reetrace_refuse()"
            )
    else:
        for t in TABLES:
            for op_name in ("UPDATE", "DELETE"):
                op.execute(
                    f'CREATE TRIGGER {t}_no_{op_name.lower()} BEFORE {op_name} ON "{t}" BEGIN '
                    f"SELECT RAISE(ABORT, 'reetrace: {op_name} on {t} refused: the log is append-only'); "
                    "END"
                )


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("enterprise", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_principals_name", "principals", ["name"], unique=False)
    op.create_table(
        "tokens",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_tokens_id", "tokens", ["id"], unique=True)
    op.create_table(
        "revocations",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index("ix_revocations_token", "revocations", ["token"], unique=False)
    _append_only()


def downgrade() -> None:
    raise NotImplementedError("reetrace never drops recorded history")
