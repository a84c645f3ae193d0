"""Foreign provenance: ``foreign_links``, derived from log records of kind ``foreign`` (a supplier's
EPCIS document attached to an import entry), append-only like every fact table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "foreign_links"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("import_entry", sa.String(length=64), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("src", sa.String(length=500), nullable=True),
        sa.Column("lot", sa.String(length=500), nullable=False),
        sa.Column("mass_kg", sa.Double(), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("position", "idx"),
    )
    op.create_index("ix_foreign_links_import_entry", TABLE, ["import_entry"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # reetrace_refuse() is created by 0001.
        op.execute(
            f'CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON "{TABLE}" '
            "FOR EACH ROW EXECUTE FUNCTION reetrace_refuse()"
        )
        op.execute(
            f'CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON "{TABLE}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION reetrace_refuse()"
        )
    else:
        for op_name in ("UPDATE", "DELETE"):
            op.execute(
                f'CREATE TRIGGER {TABLE}_no_{op_name.lower()} BEFORE {op_name} ON "{TABLE}" BEGIN '
                f"SELECT RAISE(ABORT, 'reetrace: {op_name} on {TABLE} refused: the log is append-only'); "
                "END"
            )


def downgrade() -> None:
    op.drop_table(TABLE)
