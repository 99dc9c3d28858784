"""Prometheus metrics, read from the current snapshot at scrape time.

Values come from the snapshot rather than from counters, so every gunicorn
worker answers the same for the same postings and nothing needs a
multi-process registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from syndicate.model import Status
from syndicate.postings.lint import posting_warnings
from syndicate.postings.loader import PostingLoader
from syndicate.postings.reader import ERROR, WARNING, Problem
from syndicate.postings.snapshot import Snapshot
from syndicate.store.database import Database
from syndicate.store.outbox import Outbox
from syndicate.store.records import BoardHealth


def served_problems(snapshot: Snapshot, now: datetime) -> list[Problem]:
    """What ``syndicate lint`` reports for the served folder: every file's problems, and the advice
    on each posting it serves. A stale posting gets none: lint reads its broken file, not the version
    still served."""
    stale = set(snapshot.stale)
    advice = [w for p in snapshot.postings.values() if p.source not in stale for w in posting_warnings(p, now)]
    return [*snapshot.problems, *advice]


class SnapshotCollector(Collector):
    def __init__(self, loader: PostingLoader, clock: Callable[[], datetime]) -> None:
        self.loader = loader
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self.loader.snapshot
        now = self.clock()
        states = {"open": 0, "expired": 0, Status.CLOSED.value: 0, Status.DRAFT.value: 0}
        for posting in snapshot.postings.values():
            if posting.status is Status.OPEN:
                states["expired" if posting.is_expired_at(now) else "open"] += 1
            else:
                states[posting.status.value] += 1
        postings = GaugeMetricFamily("syndicate_postings", "Postings loaded, by state.", labels=["state"])
        for state, count in states.items():
            postings.add_metric([state], count)
        yield postings
        yield GaugeMetricFamily(
            "syndicate_posting_files_rejected",
            "Posting files left out of every output because of errors (see lint).",
            value=len(self.loader.rejected_files()),
        )
        yield GaugeMetricFamily(
            "syndicate_posting_files_stale",
            "Posting files that no longer read but still serve the posting they last read as (see /healthz).",
            value=len(snapshot.stale),
        )
        problems = GaugeMetricFamily(
            "syndicate_posting_problems",
            "Problems lint reports for the served folder, by level: the files' own, and advice on what "
            "aggregators will miss.",
            labels=["level"],
        )
        found = served_problems(snapshot, now)
        for level in (ERROR, WARNING):
            problems.add_metric([level], sum(1 for p in found if p.level == level))
        yield problems
        yield GaugeMetricFamily(
            "syndicate_snapshot_generation", "Snapshots this process has loaded.", value=snapshot.generation
        )
        yield GaugeMetricFamily(
            "syndicate_snapshot_loaded_timestamp_seconds",
            "When this process loaded its current snapshot (Unix time).",
            value=snapshot.loaded_at.timestamp(),
        )


class DeliveryStats:
    """The outbox's figures (deliveries by board and state, board health) as last read from the
    database. ``live``: read them at every scrape (a process without a refresher thread); otherwise the
    web's refresher calls ``refresh`` and a scrape never waits on the database."""

    def __init__(self, outbox: Outbox, database: Database, live: bool = True) -> None:
        self.outbox = outbox
        self.database = database
        self.live = live
        self.current: tuple[dict[tuple[str, str], int], dict[str, BoardHealth]] | None = None

    def refresh(self) -> None:
        self.current = self.database.call(lambda: (self.outbox.log.counts(), self.outbox.log.health()), self.current)

    def read(self) -> tuple[dict[tuple[str, str], int], dict[str, BoardHealth]] | None:
        if self.live:
            self.refresh()
        return self.current


class DeliveryCollector(Collector):
    """The outbox as the database has it, so every process answers alike: deliveries by board and
    state, and each board's health (left out while the database has never answered)."""

    def __init__(self, stats: DeliveryStats) -> None:
        self.stats = stats

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not read the database (it may not be there yet)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self.stats.read()
        if figures is None:
            return
        counts, health = figures
        deliveries = GaugeMetricFamily(
            "syndicate_deliveries", "Webhook deliveries, by board and state.", labels=["board", "state"]
        )
        for (board, state), count in sorted(counts.items()):
            deliveries.add_metric([board, state], count)
        yield deliveries
        disabled = GaugeMetricFamily(
            "syndicate_board_disabled",
            "1 while a board is disabled (it answered 410, or Google answered 403).",
            labels=["board"],
        )
        failures = GaugeMetricFamily(
            "syndicate_board_consecutive_failures", "Failed attempts since the last success.", labels=["board"]
        )
        for board, h in sorted(health.items()):
            disabled.add_metric([board], 1 if h.disabled else 0)
            failures.add_metric([board], h.consecutive_failures)
        yield disabled
        yield failures


def build_registry(loader: PostingLoader, clock: Callable[[], datetime]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SnapshotCollector(loader, clock))
    return registry
