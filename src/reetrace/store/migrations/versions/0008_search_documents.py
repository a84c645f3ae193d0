"""Search: ``documents``, derived from the events' customs entries and document numbers (waybill,
invoice…), append-only like every fact table and filled from the events already in the log (before it,
a search by a number read every event body in the log); and prefix indexes on lot codes per form and
per product name.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

from reetrace.store.derive import document_rows

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "documents"
#: Events read (and their rows written) per statement while filling the table.
BATCH = 5000


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=80), nullable=False),
        sa.Column("number", sa.String(length=200), nullable=False),
        sa.Column("number_key", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("position", "idx"),
    )
    op.create_index("ix_documents_number_key", TABLE, ["number_key"], unique=False)
    _backfill()
    postgres = op.get_bind().dialect.name == "postgresql"
    # Spelled as 0004's index on lot codes, with the form or the product first (see
    # Dialect.prefix_match).
    for col in ("form", "product"):
        if postgres:
            op.execute(f"CREATE INDEX ix_lots_{col}_lot_lower ON lots ({col}, lower(lot) text_pattern_ops)")
        else:
            op.execute(f"CREATE INDEX ix_lots_{col}_lot_nocase ON lots ({col}, lot COLLATE NOCASE)")
    if postgres:
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


def _backfill() -> None:
    """The rows of every event already recorded, derived by the function the writers use (so that
    ``verify`` finds exactly them), in position order, a batch of events at a time."""
    conn = op.get_bind()
    table = sa.table(TABLE, *(sa.column(c) for c in ("position", "idx", "field", "number", "number_key")))
    read = sa.text(
        "SELECT position, body FROM log WHERE kind = 'event' AND position > :after ORDER BY position "
        f"LIMIT {BATCH}"
    )
    after = 0
    while True:
        frames = conn.execute(read, {"after": after}).all()
        if not frames:
            return
        rows = []
        for position, body in frames:
            record = orjson.loads(bytes(body))["record"]
            rows += [dict(zip(table.c.keys(), row, strict=True)) for row in document_rows(position, record)]
        if rows:
            conn.execute(table.insert(), rows)
        after = frames[-1][0]


def downgrade() -> None:
    # Derived from the log alone: dropping them loses nothing that upgrading again does not rebuild.
    suffix = "lower" if op.get_bind().dialect.name == "postgresql" else "nocase"
    for col in ("form", "product"):
        op.execute(f"DROP INDEX ix_lots_{col}_lot_{suffix}")
    op.drop_table(TABLE)
