"""board_channel: the kind of channel each board was last fed as, and delivery.kind: the kind a
delivery's body was built for. A board whose kind changes in boards.toml is a new channel under an
old name: what it was owed in the old format is dropped and it is backfilled in the new one.

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


def upgrade() -> None:
    op.create_table(
        "board_channel",
        sa.Column("board", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
    )
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("kind", sa.String(40), nullable=True))  # none: built before 0007


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("kind")
    op.drop_table("board_channel")
