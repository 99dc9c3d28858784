"""The WSGI application: the services every process builds, plus the web layer (one blueprint per
concern: ``feeds``, ``pages``, ``api``, ``ops``; what they share is ``answers``), the render cache
and the refresher. It boots with or without the database; it never migrates it (that is
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
from syndicate.web import answers, api, feeds, keys, ops, pages
from syndicate.web.httpcache import RenderCacheCollector
from syndicate.web.state import WebState

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

    state = _init_web(app, svc)
    state.refresh()  # the first load, before the first request: the app serves from its first answer
    if autoreload:
        app.before_request(state.ensure_running)
    app.cli.add_command(cli)
    return app


def _init_web(app: Flask, svc: Services) -> WebState:
    """Blueprints, site-wide hooks and the web state on ``app``; the state is returned unrefreshed."""
    state = WebState(svc)
    app.extensions[answers.EXTENSION] = state
    svc.metrics.register(RenderCacheCollector(state.cache))
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = svc.settings.cache_max_age
    for blueprint in (feeds.bp, pages.bp, api.bp, ops.bp, keys.bp):
        app.register_blueprint(blueprint)
    app.before_request(answers.allowed_host)
    app.after_request(answers.conditional_fallback)
    app.register_error_handler(404, answers.not_found)
    app.register_error_handler(405, answers.method_not_allowed)
    return state


def services() -> Services:
    """The current application's services (inside a request or app context)."""
    return current_app.extensions["syndicate"]
