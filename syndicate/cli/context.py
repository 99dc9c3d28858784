"""What a command builds, once per run and only when it asks: the settings (from the environment, or
the app's under ``flask --app app``), the process's services, the delivery log, a one-shot worker.

Under the console script the services are ``syndicate.services`` (settings, store, loader, unloaded)
and never the web layer; ``lint`` needs only the settings. Imports are inside the functions, so that
a command that needs less loads less.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from syndicate.push.worker import Worker
    from syndicate.services import Services
    from syndicate.settings import Settings
    from syndicate.store.log import DeliveryLog

_SERVICES = "syndicate.services"
_SETTINGS = "syndicate.settings"


def _flask_app_loader(root: click.Context) -> Callable[[], Any] | None:
    """Under ``flask --app app`` the root context's object is flask's ScriptInfo, which loads the app
    (duck-typed, so that the console script never imports Flask)."""
    return getattr(root.obj, "load_app", None)


def settings() -> Settings:
    """The settings of this run: the app's under ``flask --app app``, else from the environment."""
    from syndicate.settings import SettingsError, load_settings

    root = click.get_current_context().find_root()
    if _flask_app_loader(root) is not None:
        return services().settings
    if _SETTINGS not in root.meta:
        try:
            root.meta[_SETTINGS] = load_settings()
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
    return root.meta[_SETTINGS]


def services() -> Services:
    """The services of this run, built once: the app's under ``flask --app app``, else new ones
    (closed when the command ends). Building them reads nothing: no posting is parsed here."""
    root = click.get_current_context().find_root()
    if _SERVICES not in root.meta:
        load_app = _flask_app_loader(root)
        if load_app is not None:
            root.meta[_SERVICES] = load_app().extensions["syndicate"]
        else:
            from sqlalchemy import exc as sa_exc

            from syndicate.services import build_services
            from syndicate.store.database import describe

            try:
                svc = build_services(settings())
            except (sa_exc.ArgumentError, ImportError, OSError) as exc:  # a URL no driver takes, a path not made
                raise click.ClickException(f"the database cannot be opened: {describe(exc)}") from None
            root.call_on_close(svc.close)
            root.meta[_SERVICES] = svc
    return root.meta[_SERVICES]


def delivery_log() -> DeliveryLog:
    """The delivery log of a command that only reads or edits it: no posting is parsed, and a database
    that is away or not migrated is a clear error."""
    from syndicate.store.database import DATABASE_ERRORS, describe
    from syndicate.store.log import DeliveryLog

    store = services().store
    try:
        schema = store.schema()
    except DATABASE_ERRORS as exc:
        raise click.ClickException(f"the database is not usable: {describe(exc)}") from None
    if not schema.current:
        raise click.ClickException(f"the database schema is {schema}")
    return DeliveryLog(store)


def check_boards(svc: Services) -> None:
    """At start, a bad boards file is an error, not a warning."""
    from syndicate.push.boards import BoardsError, load_boards

    try:
        load_boards(svc.settings.boards_path)
    except BoardsError as exc:
        raise click.ClickException(str(exc)) from None


def one_shot_worker() -> Worker:
    """The worker of a one-shot command: the database must be usable now (else a clear error)."""
    from syndicate.push.worker import Worker
    from syndicate.store.database import DATABASE_ERRORS, describe

    svc = services()
    check_boards(svc)
    try:
        svc.store.migrate()
    except DATABASE_ERRORS as exc:
        raise click.ClickException(f"the database is not usable: {describe(exc)}") from None
    svc.database.check()
    svc.loader.refresh()
    return Worker(svc.settings, svc.store, svc.loader, clock=svc.clock)
