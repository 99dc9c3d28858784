"""posting_state.source: the file that serves each id, so every process settles duplicate ids alike

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posting_state") as batch:
        batch.add_column(sa.Column("source", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posting_state") as batch:
        batch.drop_column("source")
