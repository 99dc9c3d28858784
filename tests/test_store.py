"""The store: migrations match the tables, and processes racing on it agree."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import syndicate.store.outbox  # noqa: F401  (its tables are part of the metadata compared below)
from syndicate.store.engine import Store
from syndicate.store.postings import Seen
from syndicate.store.tables import board_channel, delivery, metadata


def test_migrations_build_exactly_the_tables_the_code_uses(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrating_again_is_harmless(database_url: str) -> None:
    stores = [Store(database_url) for _ in range(3)]
    threads = [threading.Thread(target=s.migrate) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stores[0].migrate()
    assert stores[0].ping()
    for s in stores:
        s.close()


def test_migration_0007_tells_the_kind_of_each_delivery_and_board_from_the_bodies(database_url: str) -> None:
    """Deliveries enqueued before 0007 have no kind: it is read from their body's format, and each
    board is recorded as the kind of its newest delivery (a board that changed kind before the
    upgrade is then seen to change once it is configured as the new kind)."""
    store = Store(database_url)
    store.migrate("0006")
    old = sa.table(
        "delivery",
        *(sa.column(c) for c in ("webhook_id", "board", "posting_id", "event_type", "version")),
        *(sa.column(c) for c in ("body", "state", "attempts", "next_attempt_at", "created_at", "updated_at")),
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)
    bodies = [
        ("hooks", b'{"type":"posting.created","timestamp":"2026-12-01T00:00:00Z","data":{"id":"a"}}'),
        ("switched", b'{"type":"posting.created","timestamp":"2026-12-01T00:00:00Z","data":{"id":"a"}}'),
        ("switched", b'{"urlList":["https://jobs.example/jobs/a","https://jobs.example/sitemap.xml"]}'),
        ("odd", b"not json at all"),
        ("google", b'{"url":"https://jobs.example/jobs/a","type":"URL_UPDATED"}'),
        ("websub:hub.example", b'{"topics":["https://jobs.example/feed.rss"],"listed":[]}'),
    ]
    with store.writer.begin() as conn:
        conn.execute(
            old.insert(),
            [
                {
                    "webhook_id": f"msg_{n}",
                    "board": board,
                    "posting_id": "a",
                    "event_type": "posting.created",
                    "version": 1,
                    "body": body,
                    "state": ("succeeded", "pending", "failed")[n % 3],
                    "attempts": 1,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for n, (board, body) in enumerate(bodies)
            ],
        )
    store.migrate()
    with store.engine.connect() as conn:
        kinds = conn.execute(sa.select(delivery.c.webhook_id, delivery.c.kind).order_by(delivery.c.seq)).all()
        boards = dict(conn.execute(sa.select(board_channel.c.board, board_channel.c.kind)).all())
    store.close()
    assert [tuple(k) for k in kinds] == [
        ("msg_0", "webhook"),
        ("msg_1", "webhook"),
        ("msg_2", "indexnow"),
        ("msg_3", None),
        ("msg_4", "google-indexing"),
        ("msg_5", "websub"),
    ]
    assert boards == {
        "hooks": "webhook",
        "switched": "indexnow",
        "google": "google-indexing",
        "websub:hub.example": "websub",
    }


def test_racing_writers_agree_on_first_seen(database_url: str) -> None:
    setup = Store(database_url)
    setup.migrate()
    setup.close()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    seen = [Seen(f"job-{i}", "h1", None) for i in range(200)]
    results: list[dict] = []

    def record(offset: int) -> None:
        store = Store(database_url)
        results.append(store.record_postings(seen, start + timedelta(seconds=offset)))
        store.close()

    threads = [threading.Thread(target=record, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(r == results[0] for r in results), "every process reads back the one stored first-seen time"
    assert {d.first_seen for d in results[0].values()} <= {start + timedelta(seconds=i) for i in range(4)}


def test_a_content_change_moves_changed_at_once(store: Store) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    store.record_postings([Seen("a", "h1", None)], t0)
    t1 = t0 + timedelta(hours=1)
    assert store.record_postings([Seen("a", "h2", None)], t1)["a"].changed_at == t1
    later = store.record_postings([Seen("a", "h2", None)], t1 + timedelta(hours=1))["a"]
    assert (later.first_seen, later.changed_at) == (t0, t1)
