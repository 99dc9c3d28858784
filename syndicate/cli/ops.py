"""The database and push commands: migrate, worker, push, deliveries, redeliver."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from syndicate.cli import context
from syndicate.push.process import run_worker
from syndicate.push.worker import Worker
from syndicate.store.database import DATABASE_ERRORS, describe
from syndicate.store.records import STATES, Attempt, Delivery


@click.command("migrate", short_help="Bring the database schema to this version.")
def migrate_command() -> None:
    """Bring the database schema to this version (the release step: run it before starting the web).

    Safe when several processes run it at once: they take a lock and the
    second finds nothing to do. The worker runs it too when it starts.
    """
    svc = context.services()
    try:
        svc.store.migrate()
    except DATABASE_ERRORS as exc:
        raise click.ClickException(f"the database cannot be migrated: {describe(exc)}") from None
    click.echo(f"database schema {svc.store.schema()}", err=True)


@click.command("worker", short_help="Run the worker (until SIGTERM).")
def worker_command() -> None:
    """Run the worker: watch the postings, enqueue owed events, deliver them (until SIGTERM).

    Started while the database is away, it waits for it (checking with backoff,
    logging once per change), migrates it under a lock, then works.
    """
    svc = context.services()
    context.check_boards(svc)
    run_worker(Worker(svc.settings, svc.store, svc.loader, clock=svc.clock), svc.database)


@click.command("push", short_help="One scan and delivery cycle.")
@click.option("--dry-run", is_flag=True, help="Print the events and bodies that would be sent; send nothing.")
def push_command(dry_run: bool) -> None:
    """One scan and delivery cycle: enqueue what every board is owed, deliver what is due."""
    worker = context.one_shot_worker()
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
        "kind": d.kind,
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


@click.command("deliveries", short_help="The delivery log, newest first.")
@click.option("--board")
@click.option("--state", type=click.Choice(STATES))
@click.option("--posting")
@click.option("--limit", default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def deliveries_command(board: str | None, state: str | None, posting: str | None, limit: int, fmt: str) -> None:
    """The delivery log, newest first: each delivery's last outcome (and disabled boards), when it
    was created, every attempt's time, status and duration, and the next attempt of a pending one."""
    log = context.delivery_log()
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
        for line in _timeline(d, log.attempts(d.webhook_id)):
            click.echo(f"    {line}")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _timeline(d: Delivery, attempts: list[Attempt]) -> list[str]:
    """When the delivery was created, each attempt with its outcome, and the next attempt if one is due."""
    lines = [f"created    {_when(d.created_at)}"]
    for n, a in enumerate(attempts, 1):
        outcome = " ".join(str(part) for part in (a.status_code, a.error_class) if part is not None) or "-"
        lines.append(f"attempt {n:<2} {_when(a.attempted_at)}  {outcome}  {a.duration_ms:.0f} ms")
    if d.state == "pending":
        lines.append(f"next       {_when(d.next_attempt_at)}")
    return lines


@click.command("redeliver", short_help="Queue a delivery again.")
@click.argument("webhook_id", required=False)
@click.option("--failed", is_flag=True, help="Every failed delivery (with --board / --since).")
@click.option("--board")
@click.option("--since", type=click.DateTime(), help="Only deliveries created since (UTC).")
def redeliver_command(webhook_id: str | None, failed: bool, board: str | None, since: datetime | None) -> None:
    """Queue a delivery again, with its own webhook id and bytes: WEBHOOK_ID, or --failed."""
    if bool(webhook_id) == failed:
        raise click.UsageError("give a WEBHOOK_ID or --failed")
    log = context.delivery_log()
    since_utc = since.replace(tzinfo=UTC) if since else None
    queued = log.redeliver(context.services().clock(), webhook_id=webhook_id, board=board, since=since_utc)
    if webhook_id and not queued:
        raise click.ClickException(
            f"no delivery {webhook_id} (or it is being sent right now, or its board changed kind since it was built)"
        )
    click.echo(f"{len(queued)} delivery(ies) queued again; the worker sends them at once")
