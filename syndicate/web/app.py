"""The WSGI application: the services every process builds, plus the web layer (routes, the render
cache, the refresher). It boots with or without the database; it never migrates it (that is
``syndicate migrate``, the run command's first step, or the worker).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from syndicate.clock import Clock, system_clock
from syndicate.logs import configure_logging
from syndicate.outputs.pages import STATIC
from syndicate.services import Services, build_services
from syndicate.settings import load_settings

__all__ = ["create_app", "services"]


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
