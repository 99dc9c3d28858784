"""``syndicate boards``: the boards with their health, and ``enable`` / ``ping`` of one board."""

from __future__ import annotations

import sys

import click

from syndicate.cli import context
from syndicate.push.delivery import send
from syndicate.push.webhook import new_webhook_id, ping_body
from syndicate.redact import redact_url


@click.group("boards", invoke_without_command=True, short_help="The boards and their health; enable, ping.")
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
        kind = f"  kind: {board.kind}" if board.kind != "webhook" else ""  # a channel: indexnow, websub
        click.echo(
            f"{name}{kind}  {redact_url(board.url)}  {status}  last success: {success}  consecutive failures: "
            f"{h.consecutive_failures if h else 0}  pending: {pending}  failed: {failed}"
        )


def _configured_boards() -> set[str]:
    """The names in the boards file, and the hubs' (SYNDICATE_WEBSUB_HUBS)."""
    from syndicate.push.boards import BoardsError, load_boards, websub_boards

    hubs = {board.name for board in websub_boards(context.settings().websub_hubs)}
    try:
        return hubs | {board.name for board in load_boards(context.settings().boards_path)}
    except BoardsError as exc:
        raise click.ClickException(f"board names unknown: {exc}") from None


@boards_group.command("enable", short_help="Re-enable a board disabled by a 410.")
@click.argument("name")
def boards_enable(name: str) -> None:
    """Re-enable board NAME, disabled by a 410; its waiting deliveries go out again.

    A board that is not disabled is left as it is (and said so); a board that
    is neither in the boards file nor in the delivery log is an error.
    """
    log = context.delivery_log()
    health = log.health().get(name)
    if health is not None and health.disabled:
        log.enable_board(name)
        click.echo(f"board {name} enabled")
        return
    configured = _configured_boards() if health is None else {name}
    if name not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise click.ClickException(f"no board {name!r} in {context.settings().boards_path} (boards: {known})")
    click.echo(f"board {name} is already enabled")


@boards_group.command("ping", short_help="Send a signed ping event to a board now.")
@click.argument("name")
def boards_ping(name: str) -> None:
    """Send a signed 'ping' event to board NAME now and show its answer."""
    worker = context.one_shot_worker()
    board = worker.boards().get(name)
    if board is None:
        raise click.ClickException(f"no board {name!r} in {worker.settings.boards_path}")
    if board.secret is None:  # a channel such as IndexNow has no signed events to ping with
        raise click.ClickException(f"board {name!r} is of kind {board.kind!r}: ping sends only to webhook boards")
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
