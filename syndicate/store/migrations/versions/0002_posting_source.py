"""posting_state.source (the file that serves each id, so every process settles duplicate ids
alike); parse_cache.stamp as text (a long zone name and inode overflowed 100 characters)

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
    with op.batch_alter_table("parse_cache") as batch:
        batch.alter_column("stamp", type_=sa.Text, existing_type=sa.String(100), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("parse_cache") as batch:
        batch.alter_column("stamp", type_=sa.String(100), existing_type=sa.Text, existing_nullable=False)
    with op.batch_alter_table("posting_state") as batch:
        batch.drop_column("source")
