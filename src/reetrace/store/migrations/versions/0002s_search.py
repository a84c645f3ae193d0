"""Search: case-insensitive prefix indexes on lot codes.

Revision ID: 0002s
Revises: 0001
Create Date: 2026-11-28

Named 0002s (not 0002) so that it cannot clash with another branch's 0002 while the two are apart;
whoever merges both re-chains one after the other.
"""

from __future__ import annotations

from alembic import op

revision = "0002s"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_lots_lot_lower ON lots (lower(lot) text_pattern_ops)")
    else:
        op.execute("CREATE INDEX ix_lots_lot_nocase ON lots (lot COLLATE NOCASE)")


def downgrade() -> None:
    raise NotImplementedError("reetrace never drops recorded history")
