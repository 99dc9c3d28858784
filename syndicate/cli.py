"""The operator's commands: ``syndicate ...`` (the console script) or ``flask --app app syndicate ...``.

Each command builds only what it uses. Under the console script that is the process's services
(``syndicate.services``: settings, store, loader, unloaded) and never the web layer; ``lint`` needs
only the settings. Under ``flask --app app`` the commands use the app's services instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import exc as sa_exc

from syndicate.clock import system_clock
from syndicate.logs import configure_logging
from syndicate.postings.files import read_folder
from syndicate.postings.lint import counts, lint
from syndicate.push.boards import BoardsError, load_boards
from syndicate.push.delivery import send
from syndicate.push.process import run_worker
from syndicate.push.webhook import new_webhook_id, ping_body
from syndicate.push.worker import Worker
from syndicate.redact import redact_url
from syndicate.services import Services, build_services
from syndicate.settings import Settings, SettingsError, load_settings
from syndicate.store.database import DATABASE_ERRORS, describe
from syndicate.store.log import DeliveryLog
from syndicate.store.records import STATES, Delivery

_SERVICES = "syndicate.services"
_SETTINGS = "syndicate.settings"


def _flask_app_loader(root: click.Context) -> Callable[[], Any] | None:
    """Under ``flask --app app`` the root context's object is flask's ScriptInfo, which loads the app
    (duck-typed, so that the console script never imports Flask)."""
    return getattr(root.obj, "load_app", None)


def _settings() -> Settings:
    """The settings of this run: the app's under ``flask --app app``, else from the environment."""
    root = click.get_current_context().find_root()
    if _flask_app_loader(root) is not None:
        return _services().settings
    if _SETTINGS not in root.meta:
        try:
            root.meta[_SETTINGS] = load_settings()
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
    return root.meta[_SETTINGS]


def _services() -> Services:
    """The services of this run, built once: the app's under ``flask --app app``, else new ones
    (closed when the command ends). Building them reads nothing: no posting is parsed here."""
    root = click.get_current_context().find_root()
    if _SERVICES not in root.meta:
        load_app = _flask_app_loader(root)
        if load_app is not None:
            root.meta[_SERVICES] = load_app().extensions["syndicate"]
        else:
            try:
                svc = build_services(_settings())
            except (sa_exc.ArgumentError, ImportError, OSError) as exc:  # a URL no driver takes, a path not made
                raise click.ClickException(f"the database cannot be opened: {describe(exc)}") from None
            root.call_on_close(svc.close)
            root.meta[_SERVICES] = svc
    return root.meta[_SERVICES]


def _log() -> DeliveryLog:
    """The delivery log of a command that only reads or edits it: no posting is parsed, and a database
    that is away or not migrated is a clear error."""
    store = _services().store
    try:
        schema = store.schema()
    except DATABASE_ERRORS as exc:
        raise click.ClickException(f"the database is not usable: {describe(exc)}") from None
    if not schema.current:
        raise click.ClickException(f"the database schema is {schema}")
    return DeliveryLog(store)


def main() -> None:
    """The console script ``syndicate``."""
    configure_logging()
    cli(prog_name="syndicate")


@click.group("syndicate")
def cli() -> None:
    """syndicate: job postings served as feeds, pages and webhooks."""


@cli.command("lint")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def lint_command(folder: Path | None, fmt: str, strict: bool) -> None:
    """Check every posting file in FOLDER (default: the postings folder).

    Errors keep a posting out of every output; warnings name what job
    aggregators will complain about. Exits 1 on errors (and on warnings with
    --strict).
    """
    settings = _settings()  # lint reads FOLDER and nothing else: no database, no served folder
    root = folder or settings.postings_dir
    if not root.is_dir():
        raise click.BadParameter(f"{root} is not a folder", param_hint="FOLDER")
    try:
        os.scandir(root).close()  # a folder lint cannot read must not pass as an empty one
    except OSError as exc:
        raise click.BadParameter(f"{root} cannot be read: {exc.strerror}", param_hint="FOLDER") from None
    results = read_folder(root, settings.tzinfo, settings.max_posting_bytes, settings.limits)
    problems = lint(results, system_clock())
    errors, warnings = counts(problems)
    if fmt == "json":
        click.echo(json.dumps([p.as_dict() for p in problems], indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            click.echo(str(problem))
        left_out = len({p.file for p in problems if p.level == "error"})
        click.echo(
            f"{len(results)} file(s), {left_out} left out, {errors} error(s), {warnings} warning(s)",
            err=True,
        )
    if errors or (strict and warnings):
        sys.exit(1)


@cli.command("migrate")
def migrate_command() -> None:
    """Bring the database schema to this version (the release step: run it before starting the web).

    Safe when several processes run it at once: they take a lock and the
    second finds nothing to do. The worker runs it too when it starts.
    """
    svc = _services()
    try:
        svc.store.migrate()
    except DATABASE_ERRORS as exc:
        raise click.ClickException(f"the database cannot be migrated: {describe(exc)}") from None
    click.echo(f"database schema {svc.store.schema()}", err=True)


# --- webhook push -------------------------------------------------------------------------


def _worker() -> Worker:
    """The worker of a one-shot command: the database must be usable now (else a clear error)."""
    svc = _services()
    _check_boards(svc)
    try:
        svc.store.migrate()
    except DATABASE_ERRORS as exc:
        raise click.ClickException(f"the database is not usable: {describe(exc)}") from None
    svc.database.check()
    svc.loader.refresh()
    return Worker(svc.settings, svc.store, svc.loader, clock=svc.clock)


def _check_boards(svc: Services) -> None:
    try:
        load_boards(svc.settings.boards_path)  # at start, a bad boards file is an error, not a warning
    except BoardsError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command("worker")
def worker_command() -> None:
    """Run the worker: watch the postings, enqueue owed events, deliver them (until SIGTERM).

    Started while the database is away, it waits for it (checking with backoff,
    logging once per change), migrates it under a lock, then works.
    """
    svc = _services()
    _check_boards(svc)
    run_worker(Worker(svc.settings, svc.store, svc.loader, clock=svc.clock), svc.database)


@cli.command("push")
@click.option("--dry-run", is_flag=True, help="Print the events and bodies that would be sent; send nothing.")
def push_command(dry_run: bool) -> None:
    """One scan and delivery cycle: enqueue what every board is owed, deliver what is due."""
    worker = _worker()
    if dry_run:
        would = worker.scan(dry_run=True) or []  # the real scan, rolled back
        for item in would:
            click.echo(f"{item.event_type} {item.posting_id} v{item.version} -> {item.board}")
            click.echo(item.body.decode())
        pending = len(worker.outbox.log.deliveries(state="pending"))
        click.echo(f"{len(would)} event(s) would be enqueued; {pending} pending; nothing sent", err=True)
        return
    try:
        report = worker.cycle()
    finally:
        worker.stop()
    outcomes = ", ".join(f"{n} {state}" for state, n in sorted(report.outcomes.items())) or "none"
    click.echo(f"{report.events} event(s) enqueued; {report.attempts} attempt(s): {outcomes}")


def _delivery_dict(d: Delivery) -> dict[str, object]:
    return {
        "webhook_id": d.webhook_id,
        "board": d.board,
        "posting": d.posting_id,
        "type": d.event_type,
        "version": d.version,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.state == "pending" else None,
        "created_at": d.created_at.isoformat(),
        "last_status": d.last_status,
        "last_error": d.last_error,
    }


@cli.command("deliveries")
@click.option("--board")
@click.option("--state", type=click.Choice(STATES))
@click.option("--posting")
@click.option("--limit", default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def deliveries_command(board: str | None, state: str | None, posting: str | None, limit: int, fmt: str) -> None:
    """The delivery log, newest first, with each delivery's last outcome (and disabled boards)."""
    log = _log()
    items = log.deliveries(board=board, state=state, posting=posting, limit=limit)
    disabled = log.disabled_boards()
    if fmt == "json":
        rows = []
        for d in items:
            row = _delivery_dict(d) | {"board_disabled": d.board in disabled}
            row["attempt_log"] = [
                {
                    "at": a.attempted_at.isoformat(),
                    "status": a.status_code,
                    "ms": round(a.duration_ms, 1),
                    "error": a.error_class,
                    "excerpt": a.excerpt,
                }
                for a in log.attempts(d.webhook_id)
            ]
            rows.append(row)
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for d in items:
        last = f"{d.last_status or ''} {d.last_error or ''}".strip() or "-"
        flag = " (board disabled)" if d.board in disabled else ""
        click.echo(
            f"{d.webhook_id}  {d.board}{flag}  {d.posting_id} v{d.version}  {d.event_type}  {d.state}"
            f"  attempts={d.attempts}  last={last}"
        )


@cli.command("redeliver")
@click.argument("webhook_id", required=False)
@click.option("--failed", is_flag=True, help="Every failed delivery (with --board / --since).")
@click.option("--board")
@click.option("--since", type=click.DateTime(), help="Only deliveries created since (UTC).")
def redeliver_command(webhook_id: str | None, failed: bool, board: str | None, since: datetime | None) -> None:
    """Queue a delivery again, with its own webhook id and bytes: WEBHOOK_ID, or --failed."""
    if bool(webhook_id) == failed:
        raise click.UsageError("give a WEBHOOK_ID or --failed")
    log = _log()
    since_utc = since.replace(tzinfo=UTC) if since else None
    queued = log.redeliver(_services().clock(), webhook_id=webhook_id, board=board, since=since_utc)
    if webhook_id and not queued:
        raise click.ClickException(f"no delivery {webhook_id} (or it is being sent right now)")
    click.echo(f"{len(queued)} delivery(ies) queued again; the worker sends them at once")


@cli.group("boards", invoke_without_command=True)
@click.pass_context
def boards_group(ctx: click.Context) -> None:
    """List the boards with their health: last success, consecutive failures, disabled."""
    if ctx.invoked_subcommand is not None:
        return
    worker = _worker()
    health = worker.outbox.log.health()
    counts_ = worker.outbox.log.counts()
    for name, board in worker.boards().items():
        h = health.get(name)
        pending = counts_.get((name, "pending"), 0) + counts_.get((name, "delivering"), 0)
        failed = counts_.get((name, "failed"), 0)
        status = f"DISABLED ({h.disabled_reason})" if h and h.disabled else "enabled"
        success = h.last_success_at.isoformat() if h and h.last_success_at else "never"
        click.echo(
            f"{name}  {redact_url(board.url)}  {status}  last success: {success}  consecutive failures: "
            f"{h.consecutive_failures if h else 0}  pending: {pending}  failed: {failed}"
        )


@boards_group.command("enable")
@click.argument("name")
def boards_enable(name: str) -> None:
    """Re-enable a board disabled by a 410; its waiting deliveries go out again."""
    if not _log().enable_board(name):
        raise click.ClickException(f"board {name!r} has no recorded state (was it ever disabled?)")
    click.echo(f"board {name} enabled")


@boards_group.command("ping")
@click.argument("name")
def boards_ping(name: str) -> None:
    """Send a signed ``ping`` event to board NAME now and show its answer."""
    worker = _worker()
    board = worker.boards().get(name)
    if board is None:
        raise click.ClickException(f"no board {name!r} in {worker.settings.boards_path}")
    now = worker.clock()
    answer = send(
        worker.session(name),
        board.url,
        board.secret.reveal(),
        new_webhook_id(),
        ping_body(name, now),
        worker.policy,
        worker.clock,
    )
    outcome = "ok" if answer.error_class is None else answer.error_class
    click.echo(f"{name}: {outcome} {answer.status or ''} in {answer.duration_ms:.0f} ms")
    if answer.error_class:
        sys.exit(1)
