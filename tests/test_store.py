"""The store: migrations match the tables, and processes racing on it agree."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import syndicate.store.outbox  # noqa: F401  (its tables are part of the metadata compared below)
from syndicate.store.engine import Store
from syndicate.store.postings import Seen
from syndicate.store.tables import metadata


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
