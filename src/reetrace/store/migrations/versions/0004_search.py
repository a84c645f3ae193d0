"""Search: case-insensitive prefix indexes on lot codes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_lots_lot_lower ON lots (lower(lot) text_pattern_ops)")
    else:
        op.execute("CREATE INDEX ix_lots_lot_nocase ON lots (lot COLLATE NOCASE)")


def downgrade() -> None:
    raise NotImplementedError("reetrace never drops recorded history")
