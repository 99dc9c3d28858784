"""syndicate: job postings in Markdown, served as feeds, pages and webhooks.

``build_services`` makes what every process needs from its settings (the
store, the database's availability, the dates, the loader, the metrics) and
does no I/O; ``create_app`` adds the web layer and loads the postings, with or
without the database. Migrations are not a web process's business: they run
from ``syndicate migrate`` (the run command's first step) or the worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from prometheus_client import CollectorRegistry

from syndicate.clock import Clock, system_clock
from syndicate.logs import configure_logging
from syndicate.metrics import DeliveryCollector, DeliveryStats, build_registry
from syndicate.outputs.pages import STATIC
from syndicate.postings.loader import PostingLoader
from syndicate.settings import Settings, load_settings
from syndicate.store.database import Database
from syndicate.store.dates import Dates
from syndicate.store.engine import Store
from syndicate.store.outbox import Outbox

__all__ = ["create_app", "services"]


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


def create_app(
    overrides: Mapping[str, Any] | None = None, clock: Clock = system_clock, *, autoreload: bool = True
) -> Flask:
    """The WSGI application; ``overrides`` win over the environment, ``clock`` is "now" for every
    part of it (tests pass both). It boots without the database: the postings come from the folder.
    ``autoreload``: a background thread keeps the postings current (tests call ``refresh`` instead)."""
    settings = load_settings(overrides=overrides)
    configure_logging()
    app = Flask(__name__, instance_path=str(settings.instance_dir), static_folder=str(STATIC))
    svc = build_services(settings, clock, live_metrics=False)
    app.extensions["syndicate"] = svc

    from syndicate.cli import cli
    from syndicate.web.routes import init_app

    state = init_app(app, svc)
    state.refresh()  # the first load, before the first request: the app serves from its first answer
    if autoreload:
        app.before_request(state.ensure_running)
    app.cli.add_command(cli)
    return app


def services() -> Services:
    """The current application's services (inside a request or app context)."""
    return current_app.extensions["syndicate"]
