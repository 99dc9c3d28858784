"""Every table of the database, in one SQLAlchemy ``MetaData`` (the schema Alembic migrates, ``migrations/``).

- ``posting_state``: per posting id, when it was first seen and when its content last changed, so
  ``date_posted`` and feed ``updated`` never move on restart;
- ``snapshot_version``: when each set of served postings (a snapshot version) was first served, the
  Last-Modified of every list output;
- ``parse_cache``: the parsed and rendered posting per file content, so a restart or a second process
  does not re-parse or re-render unchanged files;
- the outbox (migration 0004): ``posting_event_state`` and ``board_posting`` (what each board was last
  owed, see ``syndicate.push.changes``), ``delivery`` (one row per event and board: the exact body, its
  state and lease), ``delivery_attempt`` (every try) and ``board_health``;
- ``channel_quota_call`` (migration 0006): the publish calls of each google-indexing board per UTC day,
  its quota ledger across every worker;
- ``board_channel`` (migration 0007): the kind each board was last fed as (a change of kind is a new
  channel under the old name).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

posting_state = sa.Table(
    "posting_state",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text, nullable=True),  # the file that serves the id (settles duplicate ids)
)

parse_cache = sa.Table(
    "parse_cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("source", sa.Text, nullable=False, index=True),
    sa.Column("stamp", sa.Text, nullable=False),  # the file's stat stamp when it was read
    sa.Column("result", sa.Text, nullable=False),  # JSON of the read result, without the HTML
    sa.Column("html", sa.Text, nullable=True),  # the rendered description, kept apart: no JSON escaping
    # the file's text when it read well (migration 0005): its last good version, for another parser version
    sa.Column("file_text", sa.Text, nullable=True),
)

snapshot_version = sa.Table(
    "snapshot_version",
    metadata,
    sa.Column("version", sa.String(16), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

posting_event_state = sa.Table(
    "posting_event_state",
    metadata,
    sa.Column("posting_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("listed", sa.Boolean, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
)
board_posting = sa.Table(
    "board_posting",
    metadata,
    sa.Column("board", sa.String(100), primary_key=True),
    sa.Column("posting_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("listed", sa.Boolean, nullable=False),
)
delivery = sa.Table(
    "delivery",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.String(64), nullable=False, unique=True),
    sa.Column("board", sa.String(100), nullable=False),
    sa.Column("posting_id", sa.String(200), nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_owner", sa.String(100), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(40), nullable=True),
    # the kind of channel the body was built for (migration 0007; none: built before it)
    sa.Column("kind", sa.String(40), nullable=True),
    sa.Index("delivery_due", "state", "next_attempt_at"),
    sa.Index("delivery_board_posting", "board", "posting_id", "seq"),
    sa.Index(
        "delivery_open",
        "board",
        "posting_id",
        "seq",
        sqlite_where=sa.text("state IN ('pending', 'delivering')"),
        postgresql_where=sa.text("state IN ('pending', 'delivering')"),
    ),
)
delivery_attempt = sa.Table(
    "delivery_attempt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.String(64), nullable=False, index=True),
    sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("error_class", sa.String(20), nullable=True),
    sa.Column("excerpt", sa.Text, nullable=True),
)
board_health = sa.Table(
    "board_health",
    metadata,
    sa.Column("board", sa.String(100), primary_key=True),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    # what the board's configuration was when a Google 403 disabled it (migration 0006): a change enables it
    sa.Column("disabled_config", sa.String(64), nullable=True),
)
channel_quota_call = sa.Table(
    "channel_quota_call",
    metadata,
    sa.Column("board", sa.String(100), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),  # the UTC day, YYYY-MM-DD
    sa.Column("call", sa.String(100), primary_key=True),  # the delivery and attempt the call is for
    sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
)
board_channel = sa.Table(
    "board_channel",
    metadata,
    sa.Column("board", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("previous_kind", sa.String(40), nullable=True),  # the kind it had before its last change
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),  # when that change was scanned
)
