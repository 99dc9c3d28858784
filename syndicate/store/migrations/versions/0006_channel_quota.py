"""channel_quota_call: the quota ledger of google-indexing boards (one row per publish call, per UTC
day), and board_health.disabled_config: the board's configuration when a 403 disabled it, so a change
of boards.toml or of the key file enables it again

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_quota_call",
        sa.Column("board", sa.String(100), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("call", sa.String(100), primary_key=True),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("board_health") as batch:
        batch.add_column(sa.Column("disabled_config", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("board_health") as batch:
        batch.drop_column("disabled_config")
    op.drop_table("channel_quota_call")
