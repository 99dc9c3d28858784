"""``syndicate boards``: the boards with their health, and ``enable`` / ``ping`` of one board."""

from __future__ import annotations

import sys

import click

from syndicate.cli import context
from syndicate.push.delivery import send
from syndicate.push.webhook import new_webhook_id, ping_body
from syndicate.redact import redact_url


@click.group("boards", invoke_without_command=True)
@click.pass_context
def boards_group(ctx: click.Context) -> None:
    """List the boards with their health: last success, consecutive failures, disabled."""
    if ctx.invoked_subcommand is not None:
        return
    worker = context.one_shot_worker()
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
    if not context.delivery_log().enable_board(name):
        raise click.ClickException(f"board {name!r} has no recorded state (was it ever disabled?)")
    click.echo(f"board {name} enabled")


@boards_group.command("ping")
@click.argument("name")
def boards_ping(name: str) -> None:
    """Send a signed ``ping`` event to board NAME now and show its answer."""
    worker = context.one_shot_worker()
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
