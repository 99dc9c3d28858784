"""board_channel: the kind of channel each board was last fed as, and delivery.kind: the kind a
delivery's body was built for. A board whose kind changes in boards.toml is a new channel under an
old name: what it was owed in the old format is dropped and it is backfilled in the new one.
Deliveries enqueued before take the kind their body's format tells, and each board the kind of its
newest delivery.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# How each kind's stored body begins (its first key, compact JSON): what tells the kind of a delivery
# enqueued before this migration.
BODY_PREFIXES = {
    "webhook": b'{"type":',
    "indexnow": b'{"urlList":',
    "google-indexing": b'{"url":',
    "websub": b'{"topics":',
}


def upgrade() -> None:
    board_channel = op.create_table(
        "board_channel",
        sa.Column("board", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("previous_kind", sa.String(40), nullable=True),  # the kind it had before its last change
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),  # when that change was scanned
    )
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("kind", sa.String(40), nullable=True))  # none: a body of no known kind
    delivery = sa.table(
        "delivery",
        sa.column("seq", sa.Integer),
        sa.column("board"),
        sa.column("body", sa.LargeBinary),
        sa.column("kind"),
    )
    for kind, prefix in BODY_PREFIXES.items():
        begins = sa.func.substr(delivery.c.body, 1, len(prefix)) == sa.literal(prefix, sa.LargeBinary)
        op.execute(delivery.update().where(begins).values(kind=kind))
    # each board was last fed as the kind of its newest delivery
    newest = sa.select(sa.func.max(delivery.c.seq)).where(delivery.c.kind.is_not(None)).group_by(delivery.c.board)
    rows = op.get_bind().execute(sa.select(delivery.c.board, delivery.c.kind).where(delivery.c.seq.in_(newest))).all()
    if rows:
        op.bulk_insert(board_channel, [{"board": board, "kind": kind} for board, kind in rows])


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("kind")
    op.drop_table("board_channel")
