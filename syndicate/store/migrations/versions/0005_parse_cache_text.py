"""parse_cache.file_text: the bytes of a file that read well, so that its last good version can be
read again by another parser version (an upgrade, a changed time zone or bound) while the file is broken

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parse_cache") as batch:
        batch.add_column(sa.Column("file_text", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parse_cache") as batch:
        batch.drop_column("file_text")
