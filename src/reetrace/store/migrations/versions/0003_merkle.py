"""The Merkle tree over the log (``merkle_nodes``) and the signed checkpoints (``checkpoints``);
the tree of an existing log is built here, in batches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reetrace.store.tree import Frontier
from reetrace.tlog.merkle import leaf_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("merkle_nodes", "checkpoints")
#: Log rows read per batch of the backfill (memory: one batch of frames and its nodes).
BATCH = 20_000


def _append_only() -> None:
    # As in 0001 (reetrace_refuse() exists on PostgreSQL since then).
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


def _backfill() -> None:
    """Build the tree of the log already stored: leaves in position order, BATCH frames at a time."""
    conn = op.get_bind()
    nodes = sa.table("merkle_nodes", sa.column("level"), sa.column("idx"), sa.column("hash", sa.LargeBinary))
    read = sa.text("SELECT position, body FROM log WHERE position > :after ORDER BY position LIMIT :n")
    frontier = Frontier()
    after = 0
    while True:
        rows = conn.execute(read, {"after": after, "n": BATCH}).all()
        if not rows:
            return
        for pos, _ in rows:
            after += 1
            if int(pos) != after:
                raise RuntimeError(f"log position {after} is missing: run reetrace verify")
        made = frontier.append([leaf_hash(bytes(body)) for _, body in rows])
        conn.execute(nodes.insert(), [{"level": lv, "idx": i, "hash": h} for lv, i, h in made])


def _lock_function() -> None:
    # LOCK TABLE ... IN EXCLUSIVE MODE needs UPDATE, DELETE or TRUNCATE on the table; a writer role
    # that may only SELECT and INSERT (reetrace init --roles) takes the lock through this function,
    # which runs with its owner's rights and does nothing else. The lock lasts until the caller's
    # transaction ends, as a LOCK TABLE typed by the caller would.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION reetrace_lock_log() RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
            BEGIN
                LOCK TABLE log IN EXCLUSIVE MODE;
            END $$
            """
        )
        op.execute("REVOKE ALL ON FUNCTION reetrace_lock_log() FROM PUBLIC")


def upgrade() -> None:
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    _backfill()
    _append_only()
    _lock_function()


def downgrade() -> None:
    raise NotImplementedError("reetrace never drops recorded history")
