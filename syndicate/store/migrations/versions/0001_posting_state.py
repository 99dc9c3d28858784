"""posting_state and parse_cache

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "posting_state",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "parse_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("stamp", sa.String(100), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=True),
    )
    op.create_index("ix_parse_cache_source", "parse_cache", ["source"])


def downgrade() -> None:
    op.drop_index("ix_parse_cache_source", table_name="parse_cache")
    op.drop_table("parse_cache")
    op.drop_table("posting_state")
