"""webhook push: the state each board was sent, the durable outbox, attempts, board health

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "posting_event_state",
        sa.Column("posting_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("listed", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=True),
    )
    op.create_table(
        "board_posting",
        sa.Column("board", sa.String(100), primary_key=True),
        sa.Column("posting_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("listed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "delivery",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", sa.String(64), nullable=False, unique=True),
        sa.Column("board", sa.String(100), nullable=False),
        sa.Column("posting_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(40), nullable=True),
    )
    op.create_index("delivery_due", "delivery", ["state", "next_attempt_at"])
    op.create_index("delivery_board_posting", "delivery", ["board", "posting_id", "seq"])
    op.create_index(  # the claim's look-up of older open deliveries stays small however long the history
        "delivery_open",
        "delivery",
        ["board", "posting_id", "seq"],
        sqlite_where=sa.text("state IN ('pending', 'delivering')"),
        postgresql_where=sa.text("state IN ('pending', 'delivering')"),
    )
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", sa.String(64), nullable=False, index=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("error_class", sa.String(20), nullable=True),
        sa.Column("excerpt", sa.Text, nullable=True),
    )
    op.create_table(
        "board_health",
        sa.Column("board", sa.String(100), primary_key=True),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("board_health", "delivery_attempt", "delivery", "board_posting", "posting_event_state"):
        op.drop_table(table)
