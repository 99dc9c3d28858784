"""syndicate: job postings in Markdown, served as feeds, pages and webhooks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from prometheus_client import CollectorRegistry

from .clock import Clock, system_clock
from .loader import PostingLoader
from .metrics import DeliveryCollector, build_registry
from .outbox import Outbox
from .settings import Settings, load_settings
from .store import Store

__all__ = ["create_app", "services"]


@dataclass(frozen=True)
class Services:
    """What one process builds from its settings and shares between requests."""

    settings: Settings
    clock: Clock
    store: Store
    loader: PostingLoader
    metrics: CollectorRegistry


def build_services(settings: Settings, clock: Clock = system_clock) -> Services:
    """The store (migrated) and the loader (loaded); the worker builds the same. ``clock`` is the one
    every part of the process reads."""
    store = Store(settings.resolved_database_url)
    store.migrate()
    loader = PostingLoader(
        settings.postings_dir, store, settings.tzinfo, settings.max_posting_bytes, clock=clock, limits=settings.limits
    )
    loader.refresh()
    registry = build_registry(loader, clock)
    registry.register(DeliveryCollector(Outbox(store)))
    return Services(settings, clock, store, loader, registry)


def create_app(overrides: Mapping[str, Any] | None = None, clock: Clock = system_clock) -> Flask:
    """The WSGI application; ``overrides`` win over the environment, ``clock`` is "now" for every
    part of it (tests pass both)."""
    settings = load_settings(overrides=overrides)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    svc = build_services(settings, clock)
    app.extensions["syndicate"] = svc

    @app.before_request
    def _reload_postings() -> None:
        svc.loader.maybe_refresh(settings.reload_interval)

    from .cli import cli
    from .web import init_app

    init_app(app, svc)
    app.cli.add_command(cli)
    return app


def services() -> Services:
    """The current application's services (inside a request or app context)."""
    return current_app.extensions["syndicate"]
