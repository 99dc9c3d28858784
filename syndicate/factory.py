"""syndicate: job postings in Markdown, served as feeds, pages and webhooks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from prometheus_client import CollectorRegistry

from .loader import PostingLoader, utcnow
from .metrics import DeliveryCollector, build_registry
from .outbox import Outbox
from .settings import Settings, load_settings
from .store import Store

__all__ = ["create_app", "services"]


@dataclass(frozen=True)
class Services:
    """What one process builds from its settings and shares between requests."""

    settings: Settings
    store: Store
    loader: PostingLoader
    metrics: CollectorRegistry


def build_services(settings: Settings) -> Services:
    """The store (migrated) and the loader (loaded); the worker builds the same."""
    store = Store(settings.resolved_database_url)
    store.migrate()
    loader = PostingLoader(settings.postings_dir, store, settings.tzinfo, settings.max_posting_bytes)
    loader.refresh()
    registry = build_registry(loader, utcnow)
    registry.register(DeliveryCollector(Outbox(store)))
    return Services(settings, store, loader, registry)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """The WSGI application; ``overrides`` win over the environment (tests use them)."""
    settings = load_settings(overrides=overrides)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    svc = build_services(settings)
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
