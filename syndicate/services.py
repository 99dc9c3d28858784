"""What every process builds from its settings: the store, the database's availability, the dates,
the loader and the metrics, unconnected and unloaded (no I/O, no Flask). The web adds its layer on top
(``syndicate.web.app``); the worker and the CLI use these alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from syndicate.clock import Clock, system_clock
from syndicate.metrics import DeliveryCollector, DeliveryStats, build_registry
from syndicate.postings.loader import PostingLoader
from syndicate.settings import Settings
from syndicate.store.database import Database
from syndicate.store.dates import Dates
from syndicate.store.engine import Store
from syndicate.store.outbox import Outbox

__all__ = ["Services", "build_services"]


@dataclass(frozen=True)
class Services:
    """What one process builds from its settings and shares between requests."""

    settings: Settings
    clock: Clock
    store: Store
    database: Database
    dates: Dates
    loader: PostingLoader
    deliveries: DeliveryStats
    metrics: CollectorRegistry

    def close(self) -> None:
        self.store.close()
        if self.dates.standby is not None:
            self.dates.standby.close()


def build_services(settings: Settings, clock: Clock = system_clock, *, live_metrics: bool = True) -> Services:
    """The store, the database's state, the dates and the loader, unconnected and unloaded (no I/O):
    the web and the worker build the same. ``clock`` is the one every part of the process reads."""
    store = Store(settings.resolved_database_url, timeout=settings.database_timeout)
    database = Database(store)
    standby = None if store.engine.dialect.name == "sqlite" else Store(f"sqlite:///{settings.standby_path}")
    dates = Dates(database, standby)
    loader = PostingLoader(
        settings.postings_dir,
        store,
        settings.tzinfo,
        settings.max_posting_bytes,
        clock=clock,
        limits=settings.limits,
        database=database,
        dates=dates,
    )
    database.on_recovery(loader.redate)
    deliveries = DeliveryStats(Outbox(store), database, live=live_metrics)
    registry = build_registry(loader, clock)
    registry.register(DeliveryCollector(deliveries))
    return Services(settings, clock, store, database, dates, loader, deliveries, registry)
